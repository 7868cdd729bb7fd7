"""python -m benchmarks: run the scenarios, print the table, write JSON and a chart."""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import time
from pathlib import Path

from . import impls as impls_module
from . import report
from .harness import PROFILE_ENV, RunFailed
from .impls import VERSUS_ENV
from .scenarios import all_scenarios

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


def parse(argv: list[str] | None) -> argparse.Namespace:
    names = [s.NAME for s in all_scenarios()]
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="pygnetic against raw pyenet/TCP + msgpack and PodSixNet, "
        "server and clients in separate processes on 127.0.0.1.",
    )
    parser.add_argument(
        "-s",
        "--scenario",
        action="append",
        choices=names,
        help="run only this scenario (repeatable; default: all)",
    )
    parser.add_argument(
        "-i",
        "--impl",
        action="append",
        choices=[i.name for i in impls_module.IMPLS if "@" not in i.name],
        help="run only this implementation (repeatable; default: all "
        "available; the raw baselines are added for ratios)",
    )
    parser.add_argument(
        "-r",
        "--repeats",
        type=int,
        help="rounds; each round runs every implementation once (default 5; --quick: 1)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke mode: tiny sizes, one round, a few seconds"
    )
    parser.add_argument("--json", type=Path, help="also write the results JSON here")
    parser.add_argument("--chart", type=Path, help="also write the ratio chart (PNG) here")
    parser.add_argument(
        "--publish",
        action="store_true",
        help="write docs/performance.json and docs/_static/performance.png",
    )
    parser.add_argument("--no-chart", action="store_true", help="skip the chart")
    parser.add_argument(
        "--versus",
        metavar="DIR[=LABEL]",
        help="also run the pygnetic in DIR (another checkout, e.g. from git archive) as "
        "pygnetic-enet@LABEL and pygnetic-tcp@LABEL, interleaved with this one; "
        "prints the paired ratios of this pygnetic to that one",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="run every worker under cProfile, leaving <worker>.prof in DIR "
        "(slows everything down: for finding hot spots, not for figures)",
    )
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 5
    return args


def select_impls(wanted: list[str] | None) -> tuple[list[str], dict[str, str]]:
    chosen = list(wanted or [i.name for i in impls_module.IMPLS])
    for name in list(chosen):
        base = impls_module.BY_NAME[name].baseline
        if base not in chosen:
            chosen.append(base)
    for name in list(chosen):  # --versus: the other pygnetic next to this one
        chosen += [i.name for i in impls_module.IMPLS if i.name.partition("@")[0] == name]
    order = [i.name for i in impls_module.IMPLS if i.name in chosen]
    skipped = {}
    for name in list(order):
        why = impls_module.BY_NAME[name].missing()
        if why:
            skipped[name] = why
            order.remove(name)
    return order, skipped


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.versus:
        path, _, label = args.versus.partition("=")
        if not (Path(path) / "pygnetic" / "__init__.py").is_file():
            raise SystemExit(f"--versus: no pygnetic package in {path}")
        os.environ[VERSUS_ENV] = f"{Path(path).resolve()}={label or 'other'}"
        importlib.reload(impls_module)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        os.environ[PROFILE_ENV] = str(args.profile.resolve())
    scenarios = [s for s in all_scenarios() if not args.scenario or s.NAME in args.scenario]
    impls, skipped = select_impls(args.impl)
    for name, why in skipped.items():
        print(f"skipping {name}: {why}")
    for name in impls:
        impls_module.BY_NAME[name].prepare()
    info = report.machine()
    print(f"{info['cpu']} × {info['cpus']}, Python {info['python']}, {info['platform']}")
    print(
        f"{args.repeats} round(s), each running {', '.join(impls)} "
        "(order rotated; some only in some scenarios)\n"
    )
    started = time.monotonic()
    runs: dict = {}
    errors: dict = {}
    for scenario in scenarios:
        p = scenario.params(args.quick)
        rows = [impl for impl in impls if impls_module.BY_NAME[impl].runs_in(scenario.NAME)]
        if not rows:
            continue
        runs[scenario.NAME] = {impl: [] for impl in rows}
        errors[scenario.NAME] = {impl: [] for impl in rows}
        for round_ in range(args.repeats):
            # Rotate the order every round, so that no implementation always runs
            # right after the same one (or first, on a cold machine).
            shift = round_ % len(rows)
            for impl in rows[shift:] + rows[:shift]:
                t0 = time.monotonic()
                try:
                    result = scenario.run(impl, impls_module.BY_NAME[impl].params(p))
                except RunFailed as exc:
                    result = None
                    errors[scenario.NAME][impl].append(str(exc))
                except RuntimeError as exc:
                    result = None
                    errors[scenario.NAME][impl].append(f"{type(exc).__name__}: {exc}")
                runs[scenario.NAME][impl].append(result)
                shown = (
                    "FAILED: " + errors[scenario.NAME][impl][-1].splitlines()[-1]
                    if result is None
                    else ", ".join(f"{k}={v:.4g}" for k, v in result.items())
                )
                print(
                    f"  {scenario.NAME:<10} round {round_ + 1}  {impl:<24} "
                    f"{time.monotonic() - t0:5.1f} s  {shown}",
                    flush=True,
                )
    analysed = {}
    scenarios = [s for s in scenarios if s.NAME in runs]
    for scenario in scenarios:
        analysed[scenario.NAME] = report.analyse(scenario, runs[scenario.NAME])
        for impl, entry in analysed[scenario.NAME].items():
            entry["errors"] = errors[scenario.NAME][impl]
            own = impls_module.BY_NAME[impl].params(scenario.params(args.quick))
            if own != scenario.params(args.quick):  # capped for this row
                entry["params"] = own
    varied = report.variants(scenarios, analysed)
    floors = report.floors(scenarios, analysed)
    checks = report.check_targets(scenarios, analysed)
    checks += report.check_variant_targets(scenarios, varied)
    print()
    print(report.table(scenarios, analysed))
    print(
        "Targets (median of paired ratios; ahead of PodSixNet on the primary metric; "
        "variants ÷ the row they vary):"
    )
    print(report.targets_text(checks) or "  none in these scenarios")
    if floors:
        print()
        print(report.floors_text(scenarios, floors))
    if varied:
        print()
        print(report.variants_text(scenarios, varied))
    compared = report.versus(scenarios, analysed)
    if compared:
        print()
        print(report.versus_text(scenarios, compared, args.versus.partition("=")[2] or "other"))
    command = "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:])
    document = {
        "command": command.strip(),
        "quick": args.quick,
        "repeats": args.repeats,
        "machine": info,
        "skipped": skipped,
        "params": {s.NAME: s.params(args.quick) for s in scenarios},
        "metrics": {s.NAME: [m.__dict__ for m in s.METRICS] for s in scenarios},
        "results": analysed,
        "targets": checks,
        "variants": varied,
        "floors": floors,
        "versus": {"tree": args.versus, "ratios": compared} if compared else None,
        "seconds": round(time.monotonic() - started, 1),
    }
    stamp = time.strftime("%Y%m%d-%H%M%S")
    latest = RESULTS / "latest.json"
    report.write_json(RESULTS / f"{stamp}.json", document)
    report.write_json(latest, document)
    if args.json:
        report.write_json(args.json, document)
    charts = [RESULTS / "latest.png"]
    if args.chart:
        charts.append(args.chart)
    if args.publish:
        report.write_json(ROOT / "docs" / "performance.json", document)
        charts.append(ROOT / "docs" / "_static" / "performance.png")
    if not args.no_chart:
        if report.chart(charts[0], scenarios, analysed):
            for extra in charts[1:]:
                extra.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(charts[0], extra)
        else:
            print("no chart: matplotlib is not installed (python -m pip install matplotlib)")
    print(f"\nresults: {latest}  ({document['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
