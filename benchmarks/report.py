"""Summaries of the runs: medians, paired ratios to raw, targets, table, JSON, chart."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from . import impls

PYGNETIC = ("pygnetic-enet", "pygnetic-tcp")


def summarize(values: list) -> dict | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def paired_ratios(runs: list, base_runs: list, key: str) -> list[float]:
    """impl / baseline for each round in which both succeeded (round i ran them back to back)."""
    ratios = []
    for mine, base in zip(runs, base_runs, strict=True):
        if mine and base and mine.get(key) is not None and base.get(key):
            ratios.append(mine[key] / base[key])
    return ratios


def analyse(scenario, runs: dict[str, list]) -> dict:
    """Per implementation and metric: summary of values, and of paired ratios to raw."""
    out = {}
    for impl, impl_runs in runs.items():
        entry = {"runs": impl_runs, "metrics": {}, "ratios": {}}
        for metric in scenario.METRICS:
            entry["metrics"][metric.key] = summarize(
                [r.get(metric.key) if r else None for r in impl_runs]
            )
            base = impls.BY_NAME[impl].baseline
            if metric.ratio and impl != base and base in runs:
                entry["ratios"][metric.key] = summarize(
                    paired_ratios(impl_runs, runs[base], metric.key)
                )
        out[impl] = entry
    return out


def check_targets(scenarios, analysed: dict) -> list[dict]:
    """Each target: the ratio targets, and pygnetic ahead of PodSixNet per scenario."""
    checks = []
    for scenario in scenarios:
        results = analysed.get(scenario.NAME, {})
        for metric in scenario.METRICS:
            for impl in PYGNETIC:
                ratio = results.get(impl, {}).get("ratios", {}).get(metric.key)
                if metric.target is None or impl not in results:
                    continue
                value = ratio["median"] if ratio else None
                met, sign = _judge(metric, value, metric.target)
                checks.append(
                    {
                        "scenario": scenario.NAME,
                        "impl": impl,
                        "metric": metric.key,
                        "what": f"{metric.label} ratio {sign} {metric.target}",
                        "value": value,
                        "met": met,
                    }
                )
        primary = next(m for m in scenario.METRICS if m.primary)
        pod = results.get("podsixnet", {}).get("metrics", {}).get(primary.key)
        if "podsixnet" not in results or not getattr(scenario, "LEAD_TARGET", True):
            continue
        for impl in PYGNETIC:
            mine = results.get(impl, {}).get("metrics", {}).get(primary.key)
            if impl not in results:
                continue
            met: bool | None
            if mine is None:
                met = False
            elif pod is None:
                met = None  # PodSixNet failed: nothing to compare with
            elif primary.higher_is_better:
                met = mine["median"] > pod["median"]
            else:
                met = mine["median"] < pod["median"]
            checks.append(
                {
                    "scenario": scenario.NAME,
                    "impl": impl,
                    "metric": primary.key,
                    "what": f"ahead of PodSixNet ({primary.label})",
                    "value": mine["median"] / pod["median"] if mine and pod else None,
                    "met": met,
                }
            )
    return checks


def _judge(metric, value: float | None, target: float) -> tuple[bool, str]:
    """Whether a ratio meets its target (a ratio not measured does not), and the sign."""
    if metric.higher_is_better:
        return value is not None and value >= target, "≥"
    return value is not None and value <= target, "≤"


def check_variant_targets(scenarios, varied: dict) -> list[dict]:
    """Each ``Impl.variant_targets``: a bound on a paired ratio to the ``compare_to`` row.

    A row whose target metric was not paired with that row (one of them failed
    in every round) misses it.
    """
    checks = []
    for scenario in scenarios:
        for impl, bounds in _variant_bounds(scenario, varied):
            other = impls.BY_NAME[impl].compare_to
            for metric in scenario.METRICS:
                if metric.key not in bounds:
                    continue
                ratio = varied.get(scenario.NAME, {}).get(impl, {}).get(metric.key)
                value = ratio["median"] if ratio else None
                met, sign = _judge(metric, value, bounds[metric.key])
                checks.append(
                    {
                        "scenario": scenario.NAME,
                        "impl": impl,
                        "metric": metric.key,
                        "what": f"{metric.label} ÷ {other} {sign} {bounds[metric.key]}",
                        "value": value,
                        "met": met,
                    }
                )
    return checks


def _variant_bounds(scenario, varied: dict):
    """The rows paired with their ``compare_to`` in ``scenario`` that have targets there."""
    for impl in impls.BY_NAME.values():
        bounds = impl.variant_targets.get(scenario.NAME)
        if bounds and impl.name in varied.get(scenario.NAME, {}):
            yield impl.name, bounds


# -- text ---------------------------------------------------------------------------


def _num(value: float | None, digits: int) -> str:
    if value is None:
        return "—"
    if digits == 0 and abs(value) >= 10_000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _cell(summary: dict | None, digits: int, suffix: str = "") -> str:
    if summary is None:
        return "failed"
    text = f"{_num(summary['median'], digits)}{suffix}"
    if summary["n"] > 1:
        text += f" [{_num(summary['min'], digits)}–{_num(summary['max'], digits)}]"
    return text


def table(scenarios, analysed: dict, markdown: bool = False) -> str:
    lines = []
    for scenario in scenarios:
        results = analysed.get(scenario.NAME)
        if not results:
            continue
        header = ["implementation"]
        for metric in scenario.METRICS:
            unit = f" ({metric.unit})" if metric.unit else ""
            header.append(f"{metric.label}{unit}")
            if metric.ratio:
                header.append("× raw")
        rows = []
        for impl, entry in results.items():
            row = [impl]
            for metric in scenario.METRICS:
                row.append(_cell(entry["metrics"][metric.key], metric.digits))
                if metric.ratio:
                    ratio = entry["ratios"].get(metric.key)
                    row.append(
                        "1 (baseline)" if impls.BY_NAME[impl].is_raw else _cell(ratio, 2, "×")
                    )
            rows.append(row)
        lines.append(f"{'### ' if markdown else '== '}{scenario.TITLE}{'' if markdown else ' =='}")
        lines.append("")
        lines.extend(_render(header, rows, markdown))
        errors = [
            f"{impl}: {error}"
            for impl, entry in results.items()
            for error in entry.get("errors", [])
        ]
        for error in errors:
            lines.append(f"  ! {error.splitlines()[-1] if error else error}")
        for impl in results:
            note = impls.BY_NAME[impl].note
            if note:
                lines.append(f"{'- ' if markdown else '  '}{impl}: {note}")
        lines.append("")
    return "\n".join(lines)


def _render(header: list[str], rows: list[list[str]], markdown: bool) -> list[str]:
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(row) + " |" for row in rows]
        return out
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [
        fmt.format(*header),
        fmt.format(*("-" * w for w in widths)),
        *(fmt.format(*row) for row in rows),
    ]


def versus(scenarios, analysed: dict) -> dict:
    """Paired ratios of each pygnetic to its ``@LABEL`` variant (``--versus``), per metric."""
    out: dict = {}
    for scenario in scenarios:
        results = analysed.get(scenario.NAME, {})
        for impl in results:
            mine = impl.partition("@")[0]
            if "@" not in impl or mine not in results:
                continue
            for metric in scenario.METRICS:
                ratios = summarize(
                    paired_ratios(results[mine]["runs"], results[impl]["runs"], metric.key)
                )
                out.setdefault(scenario.NAME, {}).setdefault(mine, {})[metric.key] = ratios
    return out


def variants(scenarios, analysed: dict) -> dict:
    """Paired ratios of each row with an ``Impl.compare_to`` to that row, per metric."""
    return _paired_to(scenarios, analysed, "compare_to")


def floors(scenarios, analysed: dict) -> dict:
    """Paired ratios of each row with an ``Impl.floor`` to that hand-written row, per metric."""
    return _paired_to(scenarios, analysed, "floor")


def _paired_to(scenarios, analysed: dict, attribute: str) -> dict:
    out: dict = {}
    for scenario in scenarios:
        results = analysed.get(scenario.NAME, {})
        for impl in results:
            other = getattr(impls.BY_NAME[impl], attribute)
            if other is None or other not in results:
                continue
            for metric in scenario.METRICS:
                if metric.ratio:
                    ratios = summarize(
                        paired_ratios(results[impl]["runs"], results[other]["runs"], metric.key)
                    )
                    out.setdefault(scenario.NAME, {}).setdefault(impl, {})[metric.key] = ratios
    return out


def variants_text(scenarios, compared: dict) -> str:
    header = "Each variant / the row it varies, paired by round (median [min–max]):"
    return _paired_text(scenarios, compared, header, "compare_to")


def floors_text(scenarios, compared: dict) -> str:
    header = (
        "pygnetic / the hand-written floor of its transport (pygnetic's per-message work "
        "by hand), paired by round (median [min–max]):"
    )
    return _paired_text(scenarios, compared, header, "floor")


def _paired_text(scenarios, compared: dict, header: str, attribute: str) -> str:
    lines = [header]
    for scenario in scenarios:
        for impl, metrics in compared.get(scenario.NAME, {}).items():
            cells = [
                f"{m.label} {_cell(metrics[m.key], 2, '×')}"
                for m in scenario.METRICS
                if metrics.get(m.key)
            ]
            other = getattr(impls.BY_NAME[impl], attribute)
            lines.append(f"  {scenario.NAME} / {impl} ÷ {other}: " + "; ".join(cells))
    return "\n".join(lines)


def versus_text(scenarios, compared: dict, label: str) -> str:
    lines = [f"This pygnetic / pygnetic@{label}, paired by round (median [min–max]):"]
    for scenario in scenarios:
        for impl, metrics in compared.get(scenario.NAME, {}).items():
            cells = [
                f"{m.label} {_cell(metrics[m.key], 2, '×')}"
                for m in scenario.METRICS
                if metrics.get(m.key) and m.ratio
            ]
            lines.append(f"  {scenario.NAME} / {impl}: " + "; ".join(cells))
    return "\n".join(lines)


def targets_text(checks: list[dict], markdown: bool = False) -> str:
    lines = []
    for check in checks:
        value = "—" if check["value"] is None else f"{check['value']:.2f}"
        mark = {True: "met", False: "MISSED", None: "not measured"}[check["met"]]
        prefix = "- " if markdown else "  "
        lines.append(
            f"{prefix}{check['scenario']} / {check['impl']}: {check['what']}: {value} → {mark}"
        )
    return "\n".join(lines)


# -- machine, JSON, chart -----------------------------------------------------------------


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for dist in ("pygnetic", "msgpack", "pyenet", "PodSixNet", "matplotlib"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                check=False,
                cwd=Path(__file__).parent,
            ).stdout.strip()
            or None
        )
    except OSError:
        commit = None
    return {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "versions": versions,
        "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")


def chart(path: Path, scenarios, analysed: dict) -> bool:
    """Bar chart of the paired ratios to raw, one panel per primary metric."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    for scenario in scenarios:
        results = analysed.get(scenario.NAME, {})
        for metric in scenario.METRICS:
            bars = [
                (impl, entry["ratios"].get(metric.key))
                for impl, entry in results.items()
                # pygnetic's two rows and PodSixNet: not the --versus trees, nor the
                # rows of one question (two-transport servers, default connects)
                if entry["ratios"].get(metric.key) and impl in (*PYGNETIC, "podsixnet")
            ]
            if bars and (metric.primary or metric.target):
                panels.append((scenario, metric, bars))
    if not panels:
        return False
    colours = {"pygnetic-enet": "#2b7bba", "pygnetic-tcp": "#5bb55b", "podsixnet": "#d9823b"}
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.8), squeeze=False)
    for ax, (scenario, metric, bars) in zip(axes[0], panels, strict=True):
        names = [impl for impl, _ in bars]
        medians = [r["median"] for _, r in bars]
        low = [r["median"] - r["min"] for _, r in bars]
        high = [r["max"] - r["median"] for _, r in bars]
        ax.bar(
            range(len(bars)),
            medians,
            yerr=[low, high],
            capsize=4,
            color=[colours.get(n, "grey") for n in names],
        )
        ax.axhline(1.0, color="black", linewidth=0.8)
        if metric.target:
            ax.axhline(
                metric.target,
                color="red",
                linestyle="--",
                linewidth=1,
                label=f"target {metric.target}",
            )
            ax.legend(fontsize=7, loc="upper left")
        ax.set_xticks(range(len(bars)), [n.replace("-", "\n", 1) for n in names], fontsize=8)
        better = "higher" if metric.higher_is_better else "lower"
        ax.set_title(f"{scenario.NAME}: {metric.label}\n(× raw, {better} is better)", fontsize=8)
        for x, (value, (_, ratio)) in enumerate(zip(medians, bars, strict=True)):
            ax.annotate(
                f"{value:.2f}",
                (x, ratio["max"]),  # above the whisker
                ha="center",
                va="bottom",
                fontsize=7,
                xytext=(0, 2),
                textcoords="offset points",
            )
    fig.suptitle(
        "pygnetic and PodSixNet relative to raw pyenet/TCP + msgpack "
        "(same transport, same run; bars: median, whiskers: min–max)",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
