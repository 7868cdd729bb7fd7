"""Proxies that put a bad network between real peers on one machine.

Loopback never loses a datagram. :class:`~pygnetic.testing.UdpProxy` and
:class:`~pygnetic.testing.TcpProxy` (both in :mod:`pygnetic.testing`)
listen on 127.0.0.1, forward to a server, and make the traffic meet
:class:`~pygnetic.simulate.Conditions` on the way, so that a real ENet or
TCP connection meets real loss and delay, with its own retransmissions::

    from pygnetic.testing import UdpProxy, pump

    server = pygnetic.Server("127.0.0.1", 0, adapter="enet")
    with UdpProxy(server.address, "latency=50ms loss=10% reorder=5% seed=1") as proxy:
        connection = client.connect(*proxy.address)
        assert pump(server, client, proxy, until=lambda: connection.connected)
        ...
        assert proxy.stats.dropped > 0

The scheduling is :class:`pygnetic.simulate.Simulator`'s, the one a host
uses in-process, so the conditions mean the same in both places and the
same ``seed`` gives the same choices. Unlike the in-process simulator, the
conditions apply to each direction of each connection: ``latency=50ms``
adds 100 ms to a round trip.

A proxy runs in the caller's thread when the test pumps it (its
:meth:`~pygnetic.testing.UdpProxy.update` waits no longer than the next
packet due), or in a thread of its own after
:meth:`~pygnetic.testing.UdpProxy.start`, beside a real game. Its
``clock`` may be a :class:`~pygnetic.testing.ManualClock`, so a test says
when what it holds is due.

From a shell, until Ctrl-C::

    python -m pygnetic.testing.proxy udp 127.0.0.1:5000 'latency=50ms loss=10%' --listen 6000
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

from ..simulate import Conditions
from ._tcp_proxy import TcpProxy
from ._udp_proxy import UdpProxy

# The classes' public home is pygnetic.testing; this module adds the command line.
__all__ = ["main"]

_KINDS = {"udp": UdpProxy, "tcp": TcpProxy}


def main(argv: Sequence[str] | None = None) -> int:
    """Run a proxy from the command line until interrupted; returns the exit status.

    ``python -m pygnetic.testing.proxy udp|tcp HOST:PORT [CONDITIONS] [--listen PORT]``
    prints where it listens, then what it did when stopped with Ctrl-C (or
    SIGTERM). Call it from the main thread: it handles those signals.
    """
    parser = argparse.ArgumentParser(
        prog="python -m pygnetic.testing.proxy",
        description="Forward to a server through a simulated bad network.",
    )
    parser.add_argument("kind", choices=sorted(_KINDS), help="what to forward")
    parser.add_argument("target", help="the server, as HOST:PORT")
    parser.add_argument(
        "conditions", nargs="?", default="", help="for example 'latency=50ms loss=10%%'"
    )
    parser.add_argument("--listen", type=int, default=0, metavar="PORT", help="default: any")
    parser.add_argument("--host", default="127.0.0.1", help="where to listen (127.0.0.1)")
    args = parser.parse_args(argv)
    host, colon, port = args.target.rpartition(":")
    if not colon or not host or not port.isdigit():
        parser.error(f"target {args.target!r} is not HOST:PORT")
    try:
        conditions = Conditions.parse(args.conditions)
        proxy = _KINDS[args.kind]((host, int(port)), conditions, listen=(args.host, args.listen))
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    # A flag rather than KeyboardInterrupt, which could land inside an update
    # between a send and its count.
    stopping: list[int] = []
    handlers = {
        number: signal.signal(number, lambda signum, frame: stopping.append(signum))
        for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        with proxy:
            listening = f"{proxy.address[0]}:{proxy.address[1]}"
            print(f"{args.kind} proxy on {listening} -> {host}:{port}: {conditions}", flush=True)
            while not stopping:
                proxy.update(100)
            print(f"stopped: {proxy.stats}", flush=True)
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
