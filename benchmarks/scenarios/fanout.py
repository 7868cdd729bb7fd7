"""Fan-out: the server sends 8 floats of game state to every client at 20 Hz.

The clients (multiplexed in a few processes) only receive. The server's CPU
time (``time.process_time()``, its own process only) over the wall time of
the broadcast period is the cost; the fraction of state messages that reached
the clients says whether it kept up. Over ENet the state is unreliable
sequenced, as a game would send it.
"""

from __future__ import annotations

import math
import time

from .. import common, impls
from ..harness import Group
from . import Metric, serve_until_stop

NAME = "fanout"
TITLE = "Fan-out, server broadcasts to many clients"
METRICS = [
    Metric("cpu", "server CPU s per wall s", "s/s", False, target=1.25, primary=True, digits=4),
    Metric("delivered", "state delivered", "fraction", True, ratio=False, digits=3),
]


def params(quick: bool) -> dict:
    if quick:
        return {"clients": 10, "processes": 1, "hz": 20, "seconds": 0.5}
    return {"clients": 100, "processes": 2, "hz": 20, "seconds": 5.0}


def run(impl: str, p: dict) -> dict:
    with Group() as group:
        server = group.start(f"{impl} server", serve, impl, p)
        port = server.expect("ready", 30)["port"]
        clients = group.start_clients(impl, receive, port, p["clients"], p["processes"])
        done = server.expect("result", 60 + p["seconds"])
        time.sleep(0.2)  # let the last frame arrive
        for client in clients:
            client.send("stop")
        states = sum(client.expect("result", 30)["states"] for client in clients)
    if done["clients"] != p["clients"]:
        raise RuntimeError(f"only {done['clients']} of {p['clients']} clients connected")
    return {"cpu": done["cpu"], "delivered": states / (done["frames"] * p["clients"])}


def serve(control, impl: str, p: dict) -> None:
    server = impls.make_server(impl, p["clients"])
    control.send("ready", port=server.port)
    common.wait_until(lambda: server.clients >= p["clients"], server.pump, 30)
    common.wait_until(lambda: False, server.pump, 0.2)  # settle
    now, pump, broadcast = common.now, server.pump, server.broadcast_state
    frames = round(p["seconds"] * p["hz"])
    period = 1 / p["hz"]
    cpu_start, start = time.process_time(), now()
    next_frame = start
    for frame in range(frames):
        broadcast(common.state_values(frame))
        next_frame += period
        remaining = next_frame - now()
        while remaining > 0:
            pump(math.ceil(remaining * 1000))
            remaining = next_frame - now()
    wall, cpu = now() - start, time.process_time() - cpu_start
    control.send("result", cpu=cpu / wall, frames=frames, clients=server.clients)
    serve_until_stop(control, server.pump)
    server.close()


def receive(control, impl: str, port: int, count: int) -> None:
    client = impls.make_client(impl, port, count)
    serve_until_stop(control, client.pump)
    control.send("result", states=client.states, connected=client.connected)
    client.close()
