"""Connect: the time from a client's connect call until it can send, connect after connect.

One client process makes the connects one after another, each from a new
client (built before the clock starts: a game builds its client once), and
closes it before the next. "Can send" is what each library offers: pygnetic
``connection.connected`` (the server accepted its handshake), raw ENet the
CONNECT event, raw TCP the non-blocking connect completed (writable, no
error), PodSixNet the server's ``connected`` message (its ``Network_connected``).
The client waits in its library's poll 1 ms at a time, so a fallback timer
is seen within a millisecond of when it falls due. A few warm-up connects
are not counted. The client's CPU time over the same span (connect call to
can send) is reported too: on loopback most of a connect is that work.

The ``pygnetic-default`` and ``pygnetic-fallback-*`` rows pin no client
adapter: a default Client tries ENet, then TCP after ``fallback_delay``
seconds without an answer; they are compared with the raw baseline of the
transport that must end up carrying them (ENet from a default Server, TCP
from a TCP-only one), and a run fails if another transport carried a connect.
"""

from __future__ import annotations

import time

from .. import common, impls
from ..harness import Group
from . import Metric, serve_until_stop

NAME = "connect"
TITLE = "Connect, until the client can send"
# No targets, neither a ratio to raw nor a lead over PodSixNet: a connect
# happens once a session, and pygnetic's includes a handshake (hello, version
# and message registry check, accept) that neither raw transport nor PodSixNet
# does, so a ratio would judge that design, not overhead. What matters to a
# game is that it is far below a frame, and what the fallback delay adds.
LEAD_TARGET = False
METRICS = [
    Metric("median_ms", "median connect", "ms", False, primary=True, digits=3),
    Metric("p95_ms", "p95 connect", "ms", False, digits=3),
    Metric("client_cpu_ms", "client CPU per connect (median)", "ms", False, digits=3),
]
STEP_MS = 1
LABELS = {"enet": "ENet", "tcp": "TCP"}  # pygnetic's Connection.adapter


def params(quick: bool) -> dict:
    if quick:
        return {"connects": 3, "warmup": 1, "timeout": 10.0}
    return {"connects": 50, "warmup": 3, "timeout": 10.0}


def run(impl: str, p: dict) -> dict:
    total = p["warmup"] + p["connects"]
    with Group() as group:
        server = group.start(f"{impl} server", serve, impl, total)
        port = server.expect("ready", 30)["port"]
        client = group.start(f"{impl} client", connect_many, impl, port, p)
        result = client.expect("result", 60 + total * 2)
    times = result["times"]
    return {
        "median_ms": common.median(times) * 1e3,
        "p95_ms": common.percentile(times, 0.95) * 1e3,
        "client_cpu_ms": common.median(result["cpus"]) * 1e3,
    }


def serve(control, impl: str, connects: int) -> None:
    server = impls.make_server(impl, connects)  # room for all, however late a close arrives
    control.send("ready", port=server.port)
    serve_until_stop(control, server.pump)
    server.close()


def connect_many(control, impl: str, port: int, p: dict) -> None:
    expected = LABELS[impls.BY_NAME[impl].transport]
    now, cpu, times, cpus = common.now, time.process_time, [], []
    for i in range(p["warmup"] + p["connects"]):
        client = impls.make_client(impl, None, 1)
        pump = client.pump
        start, cpu_start = now(), cpu()
        client.connect(port)
        while not client.connected:
            pump(STEP_MS)
            if now() - start > p["timeout"]:
                raise RuntimeError(f"connect {i} did not complete in {p['timeout']:g} s")
        elapsed, cpu_used = now() - start, cpu() - cpu_start
        for carried in getattr(client, "adapters", ()):  # pygnetic says which transport won
            if carried not in (expected, "?"):
                raise RuntimeError(f"connect {i} ended on {carried}, not {expected}")
        client.close()
        if i >= p["warmup"]:
            times.append(elapsed)
            cpus.append(cpu_used)
    control.send("result", times=times, cpus=cpus)
