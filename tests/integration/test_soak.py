"""Soak (issue 11): 200 well-behaved clients keep playing while one peer attacks the server.

One server listens on TCP and ENet at once, in its own process
(``soak_server.py``) so that its memory is measured alone. 100 clients over
TCP and 100 over ENet (``soak_clients.py``, one process per adapter) each
send 20 reliable, numbered messages a second and check the echoes. Meanwhile
one attacker (``soak_attacker.py``) runs every attack of ``attacks.py`` in
turn from 127.0.0.2, and during each one a newcomer from 127.0.0.1, run by
this process, tries to join (over TCP and over ENet). With two CPUs or
more, the server has one to itself and the others share the rest, the
attacker at a lower priority (see ``soak_attacker.py``). The soak then
asserts that:

* the server never raised from ``update()`` and stayed up;
* every message of every good client arrived, in order, and came back, and
  no good client was disconnected;
* the server's peak resident memory stayed under :data:`MEMORY_BOUND_MB`;
* every newcomer was accepted and served within :data:`PROBE_WITHIN` s,
  and after every attack newcomers got in again within :data:`RECOVERY_WAIT` s;
* a 1 MB invalid message got a reply of less than :data:`MAX_REPLY` bytes;
* the handshake flood left fewer than :data:`MAX_LOG_LINES_PER_ATTEMPT`
  log lines per attempt.

Sustained attacks share ``PYGNETIC_SOAK_SECONDS`` (60 by default), one-shot
ones run until done; ``PYGNETIC_SOAK_ATTACKS`` (phase names, comma-separated)
runs only some. Whatever goes wrong for a good client counts against the
phase during which, or after which, it shows; for a client whose echoes
stopped for good, the phase of its last echo. The whole report (per phase:
the attack's counters, the server's longest ``update()`` and its CPU time,
GC pauses, memory, UDP drops and log lines, the good clients' longest echo,
the newcomers) is printed and written as JSON to ``PYGNETIC_SOAK_REPORT`` if
set. Run it with::

    python -m pytest -m soak tests/integration/test_soak.py -s
"""

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from queue import Empty, SimpleQueue

import attacks
import pytest
from raw_peers import enet
from soak_attacker import attack_plan
from soak_server import soak_factory

HERE = Path(__file__).parent
SECONDS = float(os.environ.get("PYGNETIC_SOAK_SECONDS", "60"))
#: Comma-separated phase names to run (default: all), to look at a few attacks closely.
ONLY = os.environ.get("PYGNETIC_SOAK_ATTACKS", "")
#: Good clients per adapter, and the reliable messages each sends a second.
GOOD_PER_ADAPTER = 100
RATE = 20
#: Room for the newcomers and the attacker beyond the good clients.
CONN_LIMIT = 2 * GOOD_PER_ADAPTER + 8
#: The server's peak resident memory must stay under this (it idles at about 30 MB).
MEMORY_BOUND_MB = 150
#: A newcomer must be accepted and get its echo within this many seconds.
PROBE_WITHIN = 5.0
#: Bytes a server may send back for a 1 MB invalid message (its CLOSE).
MAX_REPLY = 1024
#: Log lines the handshake flood may cause, per attempt.
MAX_LOG_LINES_PER_ATTEMPT = 0.1
#: Seconds between everyone being ready and the first phase.
SETTLE = 1.0
#: Seconds newcomers may take to get in again after an attack (ENet gives up on
#: a forged peer within 30 s).
RECOVERY_WAIT = 40.0
#: A one-shot attack that runs longer than this is stopped.
ONE_SHOT_LIMIT = 30.0

pytestmark = [
    pytest.mark.slow,
    pytest.mark.soak,
    pytest.mark.skipif(enet is None, reason="no pyenet"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="127.0.0.2 and /proc"),
]


class Process:
    """A child process that speaks JSON lines on stdout; stderr goes to a file."""

    def __init__(self, args, stderr_path):
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "w")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            [sys.executable, *map(str, args)],
            cwd=HERE,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self._lines = SimpleQueue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.popen.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def tell(self, command):
        self.popen.stdin.write(command + "\n")
        self.popen.stdin.flush()

    def expect(self, timeout):
        """The next JSON line; fails with the child's stderr if none comes in time."""
        try:
            line = self._lines.get(timeout=timeout)
        except Empty:
            line = None
        if line is None:
            pytest.fail(f"{self.popen.args[1]} sent nothing; its stderr:\n{self.stderr()}")
        return json.loads(line)

    def poll(self):
        """The next JSON line if one has come, else None; fails if the child has ended."""
        try:
            line = self._lines.get_nowait()
        except Empty:
            return None
        if line is None:
            pytest.fail(f"{self.popen.args[1]} ended; its stderr:\n{self.stderr()}")
        return json.loads(line)

    def stderr(self):
        self._stderr.flush()
        return Path(self.stderr_path).read_text()[-3000:]

    @property
    def alive(self):
        return self.popen.poll() is None

    def stop(self):
        if self.alive:
            self.popen.kill()
        self.popen.wait(timeout=10)
        for stream in (self.popen.stdin, self.popen.stdout):
            with contextlib.suppress(OSError):  # stdin of a process that died mid-write
                stream.close()
        self._stderr.close()


def run_phase(name, kind, seconds, port, factory, attacker):
    """Run the attack of phase ``name`` while newcomers try to join; return what both saw.

    A sustained attack goes on after its ``seconds`` while a newcomer still waits.
    """
    attacker.tell(f"start {name}")
    started = time.monotonic()
    probes_at = started + (min(1.0, seconds / 3) if kind.sustained else 0.0)
    limit = started + (seconds if kind.sustained else ONE_SHOT_LIMIT)
    probes, report, stopping = [], None, False
    try:
        while True:
            now = time.monotonic()
            if not probes and now >= probes_at:
                probes = [
                    attacks.Newcomer(port, factory, adapter, within=PROBE_WITHIN)
                    for adapter in ("socket", "enet")
                ]
            for probe in probes:
                probe.step()
            probes_done = bool(probes) and all(probe.result is not None for probe in probes)
            if report is None:
                report = attacker.poll()
            if report is None and not stopping and now >= limit and probes_done:
                attacker.tell("stop")
                stopping = True
            if report is not None and probes_done:
                break
            time.sleep(0.001)
    finally:
        for probe in probes:
            probe.close()
    return {
        "phase": name,
        "started": started,
        "ended": time.monotonic(),
        "attack": report["stats"],
        "attack_error": report.get("error"),
        "newcomers": {kind: p.result for kind, p in zip(("tcp", "enet"), probes, strict=True)},
    }


def recover(port, factory):
    """Seconds until newcomers get in again after an attack, per adapter (None: never).

    What an attack leaves behind (ENet peer slots of forged connects, memory)
    can outlast it; the next attack should start from a server that is well.
    A refused newcomer tries again half a second later.
    """
    started = time.monotonic()
    deadline = started + RECOVERY_WAIT
    recovered = {"tcp": None, "enet": None}
    probes = {}
    retry_at = {"tcp": started, "enet": started}
    try:
        while None in recovered.values() and time.monotonic() < deadline:
            now = time.monotonic()
            for kind, adapter in (("tcp", "socket"), ("enet", "enet")):
                probe = probes.get(kind)
                if recovered[kind] is not None or (probe is None and now < retry_at[kind]):
                    continue
                if probe is None:
                    probe = probes[kind] = attacks.Newcomer(port, factory, adapter, deadline - now)
                probe.step()
                if probe.result is not None:
                    probe.close()
                    del probes[kind]
                    if probe.result["accepted"]:
                        recovered[kind] = round(now - started, 2)
                    retry_at[kind] = now + 0.5
            time.sleep(0.001)
    finally:
        for probe in probes.values():
            probe.close()
    return recovered


@pytest.fixture
def processes(tmp_path):
    """Start child processes, each on its CPUs (see :func:`cpus_for`); stop them all after."""
    started = []
    original = os.sched_getaffinity(0)

    def start(name, *args):
        process = Process(args, tmp_path / f"{name}.stderr")
        started.append(process)
        os.sched_setaffinity(process.popen.pid, cpus_for(name, original))
        return process

    os.sched_setaffinity(0, cpus_for("test", original))
    yield start
    os.sched_setaffinity(0, original)
    for process in started:
        process.stop()


def cpus_for(name, cpus):
    """The server gets a CPU of its own, as on a real host; everyone else shares the rest.

    On a small machine this keeps the runs alike: the attacker (at a lower
    priority) gets whatever CPU the good clients leave, not sometimes the
    server's. With a single CPU everyone shares it.
    """
    cpus = sorted(cpus)
    if len(cpus) < 2:
        return set(cpus)
    return {cpus[0]} if name == "server" else set(cpus[1:])


def test_soak(processes):
    factory = soak_factory()
    server = processes("server", "soak_server.py", CONN_LIMIT)
    port = server.expect(timeout=30)["port"]
    clients = {
        adapter: processes(
            f"clients-{adapter}",
            "soak_clients.py",
            adapter,
            port,
            GOOD_PER_ADAPTER,
            first,
            RATE,
        )
        for adapter, first in (("socket", 0), ("enet", GOOD_PER_ADAPTER))
    }
    attacker = processes("attacker", "soak_attacker.py", port, CONN_LIMIT)
    ready = {adapter: c.expect(timeout=60)["ready"] for adapter, c in clients.items()}
    attacker.expect(timeout=60)
    time.sleep(SETTLE)  # the clients' first messages, before anything is measured
    plan = attack_plan(CONN_LIMIT)
    if ONLY:
        plan = [entry for entry in plan if entry[0] in ONLY.split(",")]
        assert plan, f"PYGNETIC_SOAK_ATTACKS={ONLY!r} names no phase of the soak"
    share = max(2.0, SECONDS / max(1, sum(1 for _, kind, _, _ in plan if kind.sustained)))

    phases = []
    for name, kind, _, fewest in plan:
        server.tell(f"phase {name}")
        phase = run_phase(name, kind, max(share, fewest or 0.0), port, factory, attacker)
        phase["recovered_after"] = recover(port, factory)
        server.tell("report")
        phase["server"] = server.expect(timeout=60)
        phases.append(phase)
        if not server.alive:
            break

    server.tell("phase closing")
    stopped = time.monotonic()  # the clients disconnect after this, on purpose
    reports = {}
    for process in clients.values():
        process.tell("stop")
    for adapter, process in clients.items():
        reports[adapter] = process.expect(timeout=60)
    server.tell("stop")
    last = server.expect(timeout=60)

    report = summarize(phases, reports, last, ready, stopped)
    print(render(report))
    if os.environ.get("PYGNETIC_SOAK_REPORT"):
        Path(os.environ["PYGNETIC_SOAK_REPORT"]).write_text(json.dumps(report, indent=1))
    failures = check(report)
    assert not failures, "\n".join(failures) + "\n\n" + render(report)


def summarize(phases, clients, last, ready, stopped):
    """One dict with everything the soak saw, per phase and in all.

    ``stopped`` is when the clients were told to stop: they disconnect after it.
    """
    disconnects = [d for report in clients.values() for d in report["disconnects"]]
    latencies = {}  # tenth of a second -> longest echo time in it
    for report in clients.values():
        for tenth, took in report["latency_by_tenth"].items():
            latencies[int(tenth)] = max(latencies.get(int(tenth), 0.0), took)
    server_side = [d for d in last["good_disconnects"] if d["t"] < stopped]
    # A client whose echoes stopped for good got stuck where its last echo came;
    # its disconnect, often seconds later (ENet waits before it gives up on a
    # peer), counts there too.
    first = phases[0]["started"]  # what happened before the first phase counts in it
    stuck = {
        entry[0]: max(first, entry[3] or first)
        for report in clients.values()
        for entry in report["missing"]
    }

    def when(disconnect):
        return max(first, min(disconnect["t"], stuck.get(disconnect["client"], float("inf"))))

    # Otherwise what shows during a phase or after it, until the next one
    # starts, is its doing.
    for phase, after in zip(phases, [*phases[1:], None], strict=True):
        start = phase["started"]
        end = after["started"] if after is not None else float("inf")
        phase["seconds"] = round(phase["ended"] - start, 2)
        phase["good_disconnects"] = [
            d for d in disconnects + server_side if start <= when(d) < end
        ]
        window = [took for tenth, took in latencies.items() if start - 0.1 < tenth / 10 < end]
        phase["good_longest_echo_ms"] = round(max(window, default=0.0) * 1000, 1)
        phase["good_stuck"] = [client for client, t in stuck.items() if start <= t < end]
    return {
        "seconds": SECONDS,
        "memory_bound_mb": MEMORY_BOUND_MB,
        "ready": ready,
        "clients": {
            adapter: {key: report[key] for key in ("sent", "echoed", "missing", "errors")}
            for adapter, report in clients.items()
        },
        "client_disconnects": disconnects,
        "server_disconnects": server_side,
        "order_errors": last["order_errors"],
        "server_received": last["received"],
        "phases": phases,
    }


def check(report):
    """Every way the soak failed, as one line each; empty when it passed."""
    failures = []
    for adapter, count in report["ready"].items():
        if count != GOOD_PER_ADAPTER:
            failures.append(f"only {count} of {GOOD_PER_ADAPTER} {adapter} clients connected")
    for adapter, seen in report["clients"].items():
        if seen["missing"]:
            failures.append(
                f"{adapter}: {len(seen['missing'])} client(s) missed echoes "
                f"(sent {seen['sent']}, echoed {seen['echoed']}); [client, sent, echoed]: "
                f"{seen['missing'][:5]}"
            )
        if seen["errors"]:
            failures.append(f"{adapter}: echoes out of order: {list(seen['errors'].items())[:3]}")
    if report["order_errors"]:
        failures.append(f"server saw seq out of order: {report['order_errors'][:3]}")
    if report["client_disconnects"] or report["server_disconnects"]:
        failures.append(
            f"good clients disconnected: {len(report['client_disconnects'])} seen by clients, "
            f"{len(report['server_disconnects'])} by the server (per phase below)"
        )
    for phase in report["phases"]:
        failures += _check_phase(phase)
    return failures


def _check_phase(phase):
    name, server, stats = phase["phase"], phase["server"], phase["attack"]
    failures = []
    if phase["attack_error"]:
        failures.append(f"{name}: the attacker failed (a harness bug): {phase['attack_error']}")
    if server["error_count"]:
        failures.append(f"{name}: update() raised {server['error_count']}x: {server['errors'][0]}")
    if phase["good_stuck"]:
        failures.append(
            f"{name}: {len(phase['good_stuck'])} good client(s) got their last echo here: "
            f"{phase['good_stuck'][:10]}"
        )
    if phase["good_disconnects"]:
        first = phase["good_disconnects"][0]
        failures.append(
            f"{name}: {len({d['client'] for d in phase['good_disconnects']})} good client(s) "
            f"disconnected, e.g. client {first['client']}: {first['reason']}"
        )
    if server["peak_rss_mb"] >= MEMORY_BOUND_MB:
        failures.append(
            f"{name}: server peak memory {server['peak_rss_mb']} MB "
            f"({server['rss_start_mb']} MB when the phase started)"
        )
    for adapter, result in phase["newcomers"].items():
        if name == "slow-drip" and result and result.get("reason") == "server is full":
            # Its connections completed the handshake, so until they fail to
            # answer pings for `timeout` seconds they fill the server as any
            # player would; what must not happen is that they outlive it.
            continue
        if result is None or not result["accepted"]:
            failures.append(f"{name}: newcomer over {adapter} locked out: {result}")
    if name == "slow-drip" and stats.get("closed_by_server", 0) < stats.get("open_max", 0):
        failures.append(f"{name}: trickling connections outlived the timeout: {stats}")
    for adapter, seconds in phase["recovered_after"].items():
        if seconds is None:
            failures.append(f"{name}: still no newcomer over {adapter} {RECOVERY_WAIT} s after")
    if name.startswith("invalid-1mb"):
        for label, outcome in stats.items():
            if not outcome.get("closed") or outcome.get("reply_bytes", 0) >= MAX_REPLY:
                failures.append(f"{name}: {label}: {outcome}")
    if name == "handshake-flood":
        allowed = stats.get("attempts", 0) * MAX_LOG_LINES_PER_ATTEMPT
        if server["log_lines"] > allowed:
            failures.append(
                f"{name}: {server['log_lines']} log lines for {stats.get('attempts')} attempts"
            )
    return failures


def render(report):
    """The report as a table for people, one line per phase."""
    lines = [
        f"{'phase':23} {'secs':>5} {'update':>7} {'MB at':>5} {'peak':>5} {'UDP':>6} {'log':>5} "
        f"{'echo':>6} {'drop':>4} {'stuck':>5}  {'newcomers':20} {'in again after':17} attack",
        f"{'':23} {'':>5} {'ms':>7} {'start':>5} {'MB':>5} {'drops':>6} {'lines':>5} {'ms':>6}",
    ]
    for phase in report["phases"]:
        server = phase["server"]
        newcomers = " ".join(
            f"{kind}:{result['seconds']:.2f}" if result and result["accepted"] else f"{kind}:NO"
            for kind, result in phase["newcomers"].items()
        )
        after = " ".join(
            f"{kind}:{seconds:.1f}" if seconds is not None else f"{kind}:NO"
            for kind, seconds in phase["recovered_after"].items()
        )
        errors = f" RAISED {server['error_count']}x" if server["error_count"] else ""
        lines.append(
            f"{phase['phase']:23} {phase['seconds']:5.1f} "
            f"{server['longest_update_ms']:5.0f} ({server['longest_update_cpu_ms']:4.0f}) "
            f"{server['gc_longest_ms']:5.0f} "
            f"{server['rss_start_mb']:5.0f} {server['peak_rss_mb']:5.0f} "
            f"{server['udp_drops'] if server['udp_drops'] is not None else '-':>6} "
            f"{server['log_lines']:5} {phase['good_longest_echo_ms']:6.0f} "
            f"{len({d['client'] for d in phase['good_disconnects']}):4} "
            f"{len(phase['good_stuck']):5}  "
            f"{newcomers:20} {after:17} {json.dumps(phase['attack'])}{errors}"
        )
    for adapter, seen in report["clients"].items():
        lines.append(
            f"{adapter} clients: {report['ready'][adapter]} connected, sent {seen['sent']}, "
            f"echoed {seen['echoed']}, {len(seen['missing'])} missing echoes"
        )
    return "\n".join(lines)
