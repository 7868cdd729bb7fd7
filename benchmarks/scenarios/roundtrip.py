"""Round trip: ping, wait for the pong, repeat; the latency of each exchange.

Both sides wait in their library's blocking poll (``update(timeout)``,
``host.service(timeout)``, ``select``), which returns as soon as data arrives.
A few warm-up exchanges are not counted in the latencies. The CPU time of
each process per exchange (warm-up included) shows what each side costs.
"""

from __future__ import annotations

import time

from .. import common, impls
from ..harness import Group
from . import Metric, serve_until_stop

NAME = "roundtrip"
TITLE = "Round trip (ping-pong)"
METRICS = [
    Metric("median_us", "median latency", "µs", False, target=1.15, primary=True, digits=0),
    Metric("p99_us", "p99 latency", "µs", False, digits=0),
    Metric("server_cpu_us", "server CPU per exchange", "µs", False, digits=1),
    Metric("client_cpu_us", "client CPU per exchange", "µs", False, digits=1),
]
WARMUP = 50


def params(quick: bool) -> dict:
    return {"pings": 300 if quick else 3000}


def run(impl: str, p: dict) -> dict:
    with Group() as group:
        server = group.start(f"{impl} server", serve, impl)
        port = server.expect("ready", 30)["port"]
        client = group.start(f"{impl} client", ping, impl, port, p["pings"])
        result = client.expect("result", 60 + p["pings"] * 0.05)
        server.send("stop")
        served = server.expect("result", 30)
    latencies = result["latencies"]
    exchanges = WARMUP + p["pings"]
    return {
        "median_us": common.median(latencies) * 1e6,
        "p99_us": common.percentile(latencies, 0.99) * 1e6,
        "server_cpu_us": served["cpu"] / exchanges * 1e6,
        "client_cpu_us": result["cpu"] / exchanges * 1e6,
    }


def serve(control, impl: str) -> None:
    server = impls.make_server(impl, 1)
    control.send("ready", port=server.port)
    common.wait_until(lambda: server.clients, server.pump, 30)
    cpu = time.process_time()
    serve_until_stop(control, server.pump, 100)  # idle waits cost no CPU
    control.send("result", cpu=time.process_time() - cpu)
    server.close()


def ping(control, impl: str, port: int, pings: int) -> None:
    client = impls.make_client(impl, port, 1)
    if not common.wait_until(lambda: client.connected, client.pump, 30):
        raise RuntimeError("could not connect")
    now, pump, send_ping = common.now, client.pump, client.send_ping
    deadline = now() + 30 + pings * 0.02
    latencies = []
    cpu = time.process_time()
    for seq in range(WARMUP + pings):
        start = now()
        send_ping(seq)
        while client.last_pong != seq:
            pump(100)
            if now() > deadline:
                raise RuntimeError(f"pong {seq} never came")
        latencies.append(now() - start)
    cpu = time.process_time() - cpu
    control.send("result", latencies=latencies[WARMUP:], cpu=cpu)
    client.close()
