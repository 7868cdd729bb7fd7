"""python -m benchmarks.replication: a replicated game state, three ways (issue 14).

The world: 500 objects of four floats (x, y, vx, vy); 10% of them, drawn once
by a seeded RNG, change all four fields every tick, 30 ticks a second, for
10 s, to 100 clients. Each row runs a server process and the clients spread
over a few client processes, all on 127.0.0.1, one row after the other:

* ``pygase-0.3.1``: PyGaSe 0.3.1 (:mod:`benchmarks.replication_pygase`), in
  an interpreter that has it: this one, or ``$PYGNETIC_PYGASE_PYTHON``
  (PyGaSe needs curio, so Python 3.11 at most).
* ``pygnetic-gamestate``: the same program on ``pygnetic.gamestate``
  (:mod:`benchmarks.replication_gamestate`).
* ``whole-state-floor``: raw pyenet + msgpack sending the whole world to
  every client every tick (:mod:`benchmarks.replication_floor`).

Per row: the server process's CPU time (all its threads, its game loop
included) per tick; the bytes a client receives a second, also as a multiple
of the changed data itself (msgpack of ``{id: [x, y, vx, vy]}`` of a tick's
changes); and the time from a change to every client having it. How each is
measured is printed with the table. A row that cannot run is skipped with the
reason; one whose clients do not all get the world in time is run again with
half as many, and so is one whose median change takes more than 100 ms (three
ticks) to reach every client, until it keeps up; the other rows then run with
as many clients too, to compare. Each says so. The server has a CPU of its
own (the clients, PyGaSe's 100 threads, share the others), as a server on a
machine of its own would; ``--no-pin`` lets them share. For a clean check of
the byte counts against the kernel's loopback counter, run it in a network
namespace of its own::

    unshare -n sh -c 'ip link set lo up; python -m benchmarks.replication'

Not part of the tests (a smoke test runs ``--quick``): about two minutes.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, replace
from pathlib import Path

from . import replication_report as figures_of
from . import report
from .harness import RunFailed
from .replication_peer import Peers
from .replication_world import Config

ROOT = Path(__file__).resolve().parent.parent
PYGASE_ENV = "PYGNETIC_PYGASE_PYTHON"
PYGASE_VERSION = "0.3.1"
SETTLE = 1.0  # seconds between every client having the world and the start of the run


@dataclass(frozen=True)
class Run:
    """What one row runs: the world, the clients, how long."""

    world: Config
    clients: int
    processes: int
    seconds: float
    grace: float  # after the server's window, for the last ticks to arrive
    connect_timeout: float
    pin: bool = True  # the server on a CPU of its own (see placement())


@dataclass(frozen=True)
class Row:
    name: str
    module: str  # benchmarks.replication_<module>
    note: str | None = None  # printed under the table when the row ran


ROWS = [
    Row(
        "pygase-0.3.1",
        "pygase",
        "pygase-0.3.1: PyGaSe's 2048-byte datagram limit (Package._max_size) is raised to 65507 "
        "in the server and the clients: the whole world, a client's first datagram, is larger, "
        "and with the limit the server's send loop for the client dies of OverflowError (the "
        "client never has a state). Its game loop ignores its interval (it sleeps "
        "max(0, interval - dt) with dt = max(interval, elapsed), which is 0): the time_step "
        "function waits for its tick itself, in the game loop's thread. Each connection sends "
        "40 datagrams a second each way, whatever the tick rate, each with everything changed "
        "since the time order the client last reported: when the server falls behind, one "
        "datagram carries several ticks of changes to the same moving objects, and its bytes "
        "fall below the changes (under 1×) while its latency grows.",
    ),
    Row("pygnetic-gamestate", "gamestate"),
    Row(
        "whole-state-floor",
        "floor",
        "whole-state-floor: ENet unreliable (sequenced, unreliable fragments), one host "
        "(socket) a client; what a game without replication would send.",
    ),
]


def pygase_python() -> tuple[str | None, str]:
    """An interpreter that imports PyGaSe 0.3.1, or None; and what was found (or why not)."""
    if importlib.util.find_spec("pygase") is not None:
        candidates = [sys.executable]
    elif os.environ.get(PYGASE_ENV):
        candidates = [os.environ[PYGASE_ENV]]
    else:
        return None, (
            f"PyGaSe is not importable here and ${PYGASE_ENV} is not set (PyGaSe needs curio, "
            "so Python 3.11 at most: pip install -e '.[bench]' there, then point "
            f"${PYGASE_ENV} at that python)"
        )
    probe = (
        "import sys, importlib.metadata as m, pygase; "
        "print(m.version('pygase'), sys.version.split()[0])"
    )
    try:
        done = subprocess.run(
            [candidates[0], "-c", probe], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{candidates[0]} does not run: {exc}"
    if done.returncode != 0:
        return None, f"{candidates[0]} cannot import pygase: {done.stderr.strip()[-300:]}"
    version, python = done.stdout.split()
    if version != PYGASE_VERSION:
        return None, f"{candidates[0]} has PyGaSe {version}, not {PYGASE_VERSION}"
    return candidates[0], f"PyGaSe {version} on Python {python} ({candidates[0]})"


def interpreter(row: Row) -> tuple[str | None, str]:
    """The Python to run ``row`` with, or None; and what it is (or why the row is skipped)."""
    if row.module == "pygase":
        return pygase_python()
    needs = {"gamestate": ("enet", "pygnetic.gamestate"), "floor": ("enet", "msgpack")}
    for module in needs[row.module]:
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:
            found = False
        if not found:
            return None, f"{module} is not importable here"
    if row.module == "gamestate":
        mixed = mixed_checkouts()
        if mixed:
            return None, mixed
    return sys.executable, f"Python {sys.version.split()[0]}"


def mixed_checkouts() -> str | None:
    """Why ``pygnetic.gamestate`` is not from the checkout ``pygnetic`` is, or None.

    An editable install of another checkout finds a subpackage this one lacks
    (its finder maps names, not folders): the row would run one checkout's
    gamestate on the other's core.
    """
    gamestate = importlib.import_module("pygnetic.gamestate")
    core = Path(sys.modules["pygnetic"].__file__).resolve().parent
    sub = Path(gamestate.__file__).resolve().parent.parent
    if sub != core:
        return f"pygnetic.gamestate is {sub}'s, but pygnetic is {core}'s"
    return None


def share(clients: int, processes: int) -> list[int]:
    processes = max(1, min(processes, clients))
    counts = [clients // processes] * processes
    for i in range(clients - sum(counts)):
        counts[i] += 1
    return counts


def loopback_bytes() -> int | None:
    """Bytes the loopback interface received, so far (Linux), or None."""
    try:
        with open("/proc/net/dev") as lines:
            for line in lines:
                name, _, counters = line.partition(":")
                if name.strip() == "lo":
                    return int(counters.split()[0])
    except OSError:
        pass
    return None


def placement() -> tuple[list[int] | None, list[int] | None]:
    """The CPUs of the server and of the clients: one to the server, the others to them.

    A server on a machine of its own, as far as this benchmark goes: the
    clients (PyGaSe's are 100 threads) cannot starve it. None where the
    system cannot pin, or has a single CPU.
    """
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None, None
    if len(cpus) < 2:
        return None, None
    return cpus[:1], cpus[1:]


def cpu_times() -> tuple[int, int] | None:
    """The machine's CPU time so far, (busy, total) in ticks (Linux), or None."""
    try:
        with open("/proc/stat") as lines:
            fields = [int(field) for field in lines.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


class NotAllReady(RunFailed):
    """Some clients did not have the whole world within the connect timeout."""


def run_row(row: Row, python: str, run: Run) -> dict:
    """Run one row once; its figures."""
    base = {"impl": row.module, "world": run.world.as_dict(), "clients": run.clients}
    server_cpus, clients_cpus = placement() if run.pin else (None, None)
    with Peers(python, str(ROOT)) as peers:
        config = {**base, "role": "server", "cpus": server_cpus}
        server = peers.start(f"{row.name} server", config)
        port = server.expect("port", 60)["port"]
        groups = []
        for i, count in enumerate(share(run.clients, run.processes)):
            config = {**base, "role": "clients", "port": port, "count": count}
            config.update(connect_timeout=run.connect_timeout, cpus=clients_cpus)
            groups.append(peers.start(f"{row.name} clients {i}", config))
        ready = sum(g.expect("ready", run.connect_timeout + 60)["ready"] for g in groups)
        if ready < run.clients:
            raise NotAllReady(
                f"{ready} of {run.clients} clients had the world within {run.connect_timeout:g} s"
            )
        time.sleep(SETTLE)
        kernel_before, cpu_before = loopback_bytes(), cpu_times()
        for peer in (server, *groups):
            peer.send("start")
        time.sleep(run.seconds)
        server.send("stop")
        served = server.expect("result", 60)
        cpu_after = cpu_times()
        time.sleep(run.grace)
        for group in groups:
            group.send("stop")
        received = [group.expect("result", 120) for group in groups]
        kernel_after = loopback_bytes()
    kernel = None if kernel_before is None else kernel_after - kernel_before
    busy = None
    if cpu_before and cpu_after and cpu_after[1] > cpu_before[1]:
        busy = (cpu_after[0] - cpu_before[0]) / (cpu_after[1] - cpu_before[1])
    return figures_of.figures(served, received, run.clients, kernel, busy)


def row_name(row: Row, clients: int, run: Run) -> str:
    return row.name if clients == run.clients else f"{row.name} ({clients} clients)"


def run_scaled(row: Row, python: str, run: Run, scale: bool) -> tuple[dict[int, dict], list[str]]:
    """Run ``row`` with all the clients, then with fewer (halving) while it does not keep up.

    It does not keep up when some client has not the world within the connect
    timeout, or, with ``scale``, when its median change takes longer than
    :data:`~benchmarks.replication_report.LATE_MS` to reach every client.
    Returns the figures by number of clients, and what was tried.
    """
    ran, tried = {}, []
    clients = run.clients
    while clients >= 1:
        try:
            figures = run_row(row, python, replace(run, clients=clients))
        except NotAllReady as exc:
            tried.append(f"{clients} clients: {exc}")
            print(f"  {exc}; trying {clients // 2}", flush=True)
            clients //= 2
            continue
        ran[clients] = figures
        if not (scale and figures_of.behind(figures)) or clients // 2 < 1:
            return ran, tried
        p50 = figures["latency_p50_ms"]
        late = "never" if p50 is None else f"in {p50:.0f} ms"
        tried.append(f"{clients} clients: the median change reached every client {late}")
        clients //= 2
        print(f"  the median change reached every client {late}; again with {clients}", flush=True)
    raise RunFailed("; ".join(tried))


def run_rows(rows: list[Row], run: Run, scale: bool) -> tuple[dict, dict, dict, dict]:
    """Run every row that can run here; when one ran with fewer clients, the others do too.

    Returns the figures by row name, why rows were skipped, each row's
    interpreter, and what was tried.
    """
    results: dict[tuple[Row, int], dict] = {}
    skipped, interpreters, tried, pythons = {}, {}, {}, {}
    for row in rows:
        python, what = interpreter(row)
        if python is None:
            skipped[row.name] = what
            print(f"skipping {row.name}: {what}", flush=True)
            continue
        interpreters[row.name] = what
        print(f"running {row.name} ({what}) ...", flush=True)
        try:
            ran, tried[row.name] = run_scaled(row, python, run, scale)
        except RunFailed as exc:
            skipped[row.name] = f"failed: {exc}"
            print(f"  {row.name} failed: {exc}", flush=True)
            continue
        pythons[row] = python
        results.update(((row, clients), figures) for clients, figures in ran.items())
    fewest = min((clients for _, clients in results), default=run.clients)
    for row, python in pythons.items():  # as many clients as the row that kept up with fewest
        if (row, fewest) not in results:
            print(f"running {row.name} with {fewest} clients, to compare ...", flush=True)
            try:
                results[row, fewest] = run_row(row, python, replace(run, clients=fewest))
            except RunFailed as exc:
                print(f"  {row.name} with {fewest} clients failed: {exc}", flush=True)
    order = sorted(results, key=lambda key: (-key[1], rows.index(key[0])))
    figures = {row_name(row, clients, run): results[row, clients] for row, clients in order}
    return figures, skipped, interpreters, tried


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.replication",
        description="A replicated game state: PyGaSe 0.3.1, pygnetic.gamestate and a "
        "whole-state floor; server CPU, bytes per client and change-to-every-client latency.",
    )
    parser.add_argument("--clients", type=int, help="clients (default 100; --quick 10)")
    parser.add_argument("--objects", type=int, help="objects (default 500; --quick 50)")
    parser.add_argument("--changing", type=float, default=0.1, help="fraction that moves")
    parser.add_argument("--hz", type=float, default=30.0, help="ticks a second")
    parser.add_argument("--seconds", type=float, help="length of a row's run (default 10)")
    parser.add_argument("--processes", type=int, help="client processes (default 4; --quick 2)")
    parser.add_argument("--seed", type=int, default=14, help="which objects move, and how")
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="let the server and the clients share every CPU (default: the server has one)",
    )
    parser.add_argument(
        "--row", action="append", choices=[row.name for row in ROWS], help="only this row"
    )
    parser.add_argument(
        "--no-scale",
        action="store_true",
        help="do not run a row again with fewer clients when it does not keep up",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke mode: 10 clients, 50 objects, 2 s, no scaling"
    )
    parser.add_argument("--json", type=Path, help="also write the results JSON here")
    args = parser.parse_args(argv)
    quick = {"clients": 10, "objects": 50, "seconds": 2.0, "processes": 2}
    full = {"clients": 100, "objects": 500, "seconds": 10.0, "processes": 4}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def paragraphs(*texts: str) -> str:
    """The texts filled to 99 columns (each line of one on its own), a blank line apart."""
    return "\n\n".join(
        "\n".join(textwrap.fill(line, 99) for line in text.splitlines()) for text in texts if text
    )


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    world = Config(objects=args.objects, changing=args.changing, hz=args.hz, seed=args.seed)
    run = Run(
        world, args.clients, args.processes, args.seconds,
        grace=1.0 if args.quick else 2.0, connect_timeout=20.0 if args.quick else 60.0,
        pin=not args.no_pin,
    )  # fmt: skip
    info = report.machine()
    load = info["load_average"]
    print(f"{info['cpu']} × {info['cpus']}, {info['platform']}, load {load[0]:.2f} at the start")
    print(
        f"{run.clients} clients in {len(share(run.clients, run.processes))} processes, "
        f"{world.objects} objects, {world.moving} changing every tick, {world.hz:g} Hz, "
        f"{run.seconds:g} s a row\n"
    )
    chosen = [row for row in ROWS if not args.row or row.name in args.row]
    scale = not (args.quick or args.no_scale)
    rows, skipped, interpreters, tried = run_rows(chosen, run, scale)
    changes = figures_of.changes_per_tick(world, round(world.hz * run.seconds))
    print()
    if rows:
        print(figures_of.plain_table(rows, changes))
        print()
    lines = [
        f"The changed data itself: {changes:,.0f} B a tick (msgpack of {{id: [x, y, vx, vy]}} "
        f"of the {world.moving} that moved) × {world.hz:g} ticks/s = "
        f"{changes * world.hz / 1000:.1f} kB/s per client. '× changes' is a row's bytes a "
        "client a tick over that, at the row's own tick rate.",
        "\n".join(figures_of.goals(rows, changes, skipped)),
    ]
    if any(figures_of.saturated(row) for row in rows.values()):
        lines.append(
            f"* The machine's CPUs were {figures_of.SATURATED:.0%} busy or more through the run "
            "(with the row's processes and whatever else ran): the row shows a library short "
            "of CPU."
        )
    for name, attempts in tried.items():
        if attempts:
            lines.append(f"{name}: tried {'; '.join(attempts)}.")
    print(paragraphs(*lines))
    print("\nKernel check:")
    for line in figures_of.kernel_check(rows):
        print(textwrap.fill(line, 99, initial_indent="  ", subsequent_indent="    "))
    notes = [r.note for r in ROWS if r.note and any(name.startswith(r.name) for name in rows)]
    print()
    methods = (figures_of.CPU_METHOD, figures_of.BYTES_METHOD, figures_of.LATENCY_METHOD)
    print(paragraphs(*methods, *notes))
    print()
    if rows:
        print(figures_of.rst_table(rows, changes))
        print()
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    if args.json:
        report.write_json(args.json, {
            "benchmark": "replication",
            "machine": info,
            "world": world.as_dict(),
            "run": {k: v for k, v in run.__dict__.items() if k != "world"},
            "changes_bytes_per_tick": changes,
            "interpreters": interpreters,
            "rows": rows,
            "tried": tried,
            "skipped": skipped,
            "method": {"cpu": figures_of.CPU_METHOD, "bytes": figures_of.BYTES_METHOD,
                       "latency": figures_of.LATENCY_METHOD,
                       "notes": {r.name: r.note for r in ROWS}},
        })  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
