"""python -m benchmarks.delivery: what each delivery mode does through real loss.

Real ENet (a pygnetic Server and Client on 127.0.0.1) through
:class:`pygnetic.testing.UdpProxy`, which loses, delays, jitters, duplicates
and reorders the datagrams both ways; then the same game through pygnetic's
own simulator instead of the proxy (``simulate=`` on both hosts), to compare
the two. Every message carries the time it was sent; one process runs both
hosts and the proxy, so arrival minus sending is the one-way delay.

Prints a reStructuredText table, the one in docs/howto/bad-network.rst.
Not part of the tests: it takes about half a minute.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from typing import Any

import pygnetic
from pygnetic.message import MessageFactory
from pygnetic.simulate import Conditions
from pygnetic.testing import UdpProxy, pump

MODES = ("reliable", "unreliable_sequenced", "unreliable")
CONDITIONS = "latency=50ms jitter=10ms loss=10% duplicate=2% reorder=5%"


def factory() -> MessageFactory:
    messages = MessageFactory()
    for channel, mode in enumerate(MODES):
        messages.register(mode, ("n", "sent"), delivery=mode, channel=channel)
    return messages


class Arrivals(pygnetic.Handler):
    """Writes down each message's number and one-way delay, by delivery mode."""

    def __init__(self, arrivals: dict[str, list[tuple[int, float]]]) -> None:
        self.arrivals = arrivals

    def on_receive(self, message: Any, channel: int = 0, **kwargs: Any) -> None:
        self.arrivals[type(message).__name__].append(
            (message.n, time.perf_counter() - message.sent)
        )


def measure(route: str, conditions: Conditions, count: int, interval: float) -> dict[str, Any]:
    """Send ``count`` messages of every mode, one of each per ``interval``; tally what arrived."""
    messages = factory()
    arrivals: dict[str, list[tuple[int, float]]] = {mode: [] for mode in MODES}
    recorder = Arrivals(arrivals)
    simulate: Conditions | bool = conditions if route == "simulator" else False
    server = pygnetic.Server(
        "127.0.0.1", 0, adapter="enet", channels=len(MODES), message_factory=messages,
        handler=lambda: recorder, rate_limit=None, simulate=simulate,
    )  # fmt: skip
    client = pygnetic.Client(
        adapter="enet", channels=len(MODES), message_factory=messages, simulate=simulate
    )
    hosts: list[Any] = [server, client]
    proxy = None
    target = server.address
    if route == "proxy":
        proxy = UdpProxy(server.address, conditions)
        hosts.append(proxy)
        target = proxy.address
    try:
        connection = client.connect(*target)
        if not pump(*hosts, until=lambda: connection.connected, timeout=20):
            raise RuntimeError(f"could not connect through the {route}")
        senders = [getattr(connection, f"net_{mode}") for mode in MODES]
        next_send = time.perf_counter()
        for n in range(count):
            for send in senders:
                send(n, time.perf_counter())
            next_send += interval
            while time.perf_counter() < next_send:
                for host in hosts:
                    host.update(0)
        settle = time.perf_counter() + 3.0
        done = lambda: len(arrivals["reliable"]) >= count  # noqa: E731
        while time.perf_counter() < settle and not done():
            for host in hosts:
                host.update(1)
        pump(*hosts, timeout=0.5)  # stragglers of the unreliable modes
    finally:
        client.close()
        server.close()
        if proxy is not None:
            proxy.close()
    return {mode: tally(arrivals[mode], count) for mode in MODES}


def tally(arrived: list[tuple[int, float]], count: int) -> dict[str, float]:
    numbers = [n for n, _ in arrived]
    delays = sorted(delay for _, delay in arrived)
    late = sum(1 for a, b in itertools.pairwise(numbers) if b < a)
    return {
        "arrived": len(set(numbers)) / count,
        "duplicates": len(numbers) - len(set(numbers)),
        "out_of_order": late,
        "p50": 1000 * statistics.median(delays) if delays else float("nan"),
        "p99": 1000 * delays[min(len(delays) - 1, int(0.99 * len(delays)))]
        if delays
        else float("nan"),
    }


def table(results: dict[str, dict[str, dict[str, float]]], count: int) -> str:
    rows = [
        ("through", "delivery", "arrived", "duplicates", "out of order", "one way p50",
         "p99"),
    ]  # fmt: skip
    for route, by_mode in results.items():
        label = "UdpProxy" if route == "proxy" else "simulator"
        for mode, row in by_mode.items():
            rows.append((
                label,
                f"``{mode.upper()}``",
                f"{row['arrived']:.1%}",
                str(int(row["duplicates"])),
                str(int(row["out_of_order"])),
                f"{row['p50']:.0f} ms",
                f"{row['p99']:.0f} ms",
            ))  # fmt: skip
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in rows:
        lines.append(f"   * - {row[0]}")
        lines.extend(f"     - {cell}" for cell in row[1:])
    return "\n".join(lines) + f"\n\n{count} messages of each mode.\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.delivery", description=__doc__)
    parser.add_argument("--conditions", default=CONDITIONS + " seed=2")
    parser.add_argument("--count", type=int, default=2000, help="messages of each mode")
    parser.add_argument("--interval", type=float, default=0.004, help="seconds between sends")
    args = parser.parse_args(argv)
    conditions = Conditions.parse(args.conditions)
    results = {
        route: measure(route, conditions, args.count, args.interval)
        for route in ("proxy", "simulator")
    }
    print(f"Conditions: ``{conditions}``, each direction.\n")
    print(table(results, args.count))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
