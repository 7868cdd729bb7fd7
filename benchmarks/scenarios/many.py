"""Many clients: connect as many as the machine allows (up to 1,000), then time update().

Clients are multiplexed, a few hundred per process. Once they are connected
(or no more connect for a while), each sends one reliable ``move`` every
100 ms, and the server runs a 30 Hz game loop whose network step is one
non-blocking pump (``server.update(0)`` for pygnetic). The cost is that
step's wall time and CPU time per frame.
"""

from __future__ import annotations

import time

from .. import common, impls
from ..harness import Group
from . import Metric, serve_until_stop

NAME = "many"
TITLE = "Many clients, server update() per frame"
METRICS = [
    Metric("clients", "clients connected", "", True, ratio=False, digits=0),
    Metric("cpu_ms", "update() CPU per frame (mean)", "ms", False, primary=True, digits=3),
    Metric("wall_ms", "update() wall per frame (median)", "ms", False, digits=3),
    Metric("p99_ms", "update() wall per frame (p99)", "ms", False, digits=3),
    Metric("delivered", "moves delivered", "fraction", True, ratio=False, digits=3),
]
MOVE_PERIOD = 0.1
STALL = 5.0  # stop waiting when no client connected for this long


def params(quick: bool) -> dict:
    if quick:
        return {"clients": 20, "processes": 2, "hz": 30, "seconds": 0.5, "connect": 10.0}
    return {"clients": 1000, "processes": 4, "hz": 30, "seconds": 5.0, "connect": 60.0}


def run(impl: str, p: dict) -> dict:
    with Group() as group:
        server = group.start(f"{impl} server", serve, impl, p)
        port = server.expect("ready", 30)["port"]
        clients = group.start_clients(impl, play, port, p["clients"], p["processes"])
        server.expect("measuring", p["connect"] + 30)
        for client in clients:
            client.send("go")
        result = server.expect("result", p["seconds"] + 30)
    return result


def serve(control, impl: str, p: dict) -> None:
    server = impls.make_server(impl, p["clients"])
    control.send("ready", port=server.port)
    now, pump = common.now, server.pump
    deadline, last_change, connected = now() + p["connect"], now(), 0
    while connected < p["clients"] and now() < deadline and now() - last_change < STALL:
        pump(10)
        if server.clients != connected:
            connected, last_change = server.clients, now()
    control.send("measuring", clients=connected)
    common.wait_until(lambda: False, pump, 2 * MOVE_PERIOD)  # the moves start
    moves_before = server.moves
    frames = round(p["seconds"] * p["hz"])
    period = 1 / p["hz"]
    walls, cpus = [], []
    start = next_frame = now()
    for _ in range(frames):
        t0, c0 = now(), time.process_time()
        pump(0)
        walls.append(now() - t0)
        cpus.append(time.process_time() - c0)
        next_frame += period
        delay = next_frame - now()
        if delay > 0:
            time.sleep(delay)
    elapsed = now() - start
    expected = connected * elapsed / MOVE_PERIOD
    control.send(
        "result",
        clients=connected,
        cpu_ms=sum(cpus) / frames * 1e3,
        wall_ms=common.median(walls) * 1e3,
        p99_ms=common.percentile(walls, 0.99) * 1e3,
        delivered=(server.moves - moves_before) / expected if expected else 0.0,
    )
    serve_until_stop(control, pump)
    server.close()


def play(control, impl: str, port: int, count: int) -> None:
    client = impls.make_client(impl, port, count)
    pump = client.pump
    while True:
        kind = control.poll()
        if kind == "go":
            break
        if kind == "stop":
            client.close()
            return
        pump(10)
    next_move = common.now()
    while True:
        pump(5)
        if common.now() >= next_move:
            client.send_moves()
            next_move += MOVE_PERIOD
            if control.poll() == "stop":
                break
    client.close()
