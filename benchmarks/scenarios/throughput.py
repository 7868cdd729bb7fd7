"""Throughput: one client sends reliable chat_msg('Tom', 'Test message') as fast as it can.

The client queues SEND_BATCH messages, pumps the network once, and repeats;
the server decodes and dispatches every message. The rate is messages over
the time from the client's first send to the server's handling of the last
(both read the same monotonic clock). The CPU time of each process per
message (``time.process_time()``) is reported too: unlike the rate, it hardly
moves when other work on the machine takes a core away.
"""

from __future__ import annotations

import time

from .. import common, impls
from ..harness import Group
from . import Metric, serve_until_stop

NAME = "throughput"
TITLE = "Throughput, one client"
METRICS = [
    Metric("rate", "messages/s", "msg/s", True, target=0.8, primary=True, digits=0),
    Metric("delivered", "delivered", "fraction", True, ratio=False, digits=3),
    Metric("server_cpu_us", "server CPU per msg", "µs", False, digits=2),
    Metric("client_cpu_us", "client CPU per msg", "µs", False, digits=2),
]


def params(quick: bool) -> dict:
    return {"messages": 2000 if quick else 50_000, "timeout": 20.0 if quick else 120.0}


def run(impl: str, p: dict) -> dict:
    result = run_once(impl, p["messages"], p["timeout"])
    elapsed = result["t_end"] - result["t_start"]
    return {
        "rate": result["chats"] / elapsed,
        "delivered": result["chats"] / p["messages"],
        "server_cpu_us": result["server_cpu"] / result["chats"] * 1e6,
        "client_cpu_us": result["client_cpu"] / p["messages"] * 1e6,
    }


def run_once(impl: str, messages: int, timeout: float) -> dict:
    with Group() as group:
        server = group.start(f"{impl} server", serve, impl, messages, timeout)
        port = server.expect("ready", 30)["port"]
        client = group.start(f"{impl} client", send, impl, port, messages)
        done = server.expect("result", timeout + 30)
        client.send("stop")
        sent = client.expect("result", 30)
    return {**done, **sent}


def serve(control, impl: str, messages: int, timeout: float) -> None:
    server = impls.make_server(impl, 1)
    control.send("ready", port=server.port)
    common.wait_until(lambda: server.clients, server.pump, 30)
    deadline = common.now() + timeout
    pump = server.pump
    cpu = time.process_time()
    while server.chats < messages and common.now() < deadline:
        pump(10)
    t_end, cpu = common.now(), time.process_time() - cpu
    control.send("result", chats=server.chats, t_end=t_end, server_cpu=cpu)
    serve_until_stop(control, pump)
    server.close()


def send(control, impl: str, port: int, messages: int) -> None:
    client = impls.make_client(impl, port, 1)
    if not common.wait_until(lambda: client.connected, client.pump, 30):
        raise RuntimeError("could not connect")
    batch, pump, send_chats = common.SEND_BATCH, client.pump, client.send_chats
    cpu, t_start = time.process_time(), common.now()
    for start in range(0, messages, batch):
        send_chats(min(batch, messages - start))
        pump(0)
    t_sent = common.now()
    serve_until_stop(control, pump, 1)  # acknowledgements, retransmissions, until all arrived
    cpu = time.process_time() - cpu
    control.send("result", t_start=t_start, t_sent=t_sent, client_cpu=cpu, wire=client.wire())
    client.close()
