"""The implementations under test, each one small module with the same two classes.

``Server(max_clients)`` listens on 127.0.0.1 on a port the system picks and has:
``port``, ``clients`` (connected now), ``chats`` and ``moves`` (messages received),
``pump(timeout_ms)`` (one round of network work: receive, decode, dispatch on the
message type, answer each ``ping`` with a ``pong``), ``broadcast_state(values)``
and ``close()``.

``Client(port, count)`` makes ``count`` connections from one process
(``Client(None, count)`` makes none yet: ``connect(port)`` starts them, which
the connect scenario times) and has: ``connected``, ``pongs``, ``last_pong``,
``states``, ``pump(timeout_ms)``, ``send_chats(n)`` and ``send_ping(seq)`` (on
the first connection), ``send_moves()`` (one on every connection), ``wire()``
(bytes exchanged, or None) and ``close()``.

The per-message work (sending loops, receive loops, dispatch) lives inside
each implementation, written the way that library is meant to be used.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Impl:
    name: str
    module: str
    transport: str  # "enet", "tcp" or "websocket"
    baseline: str  # the raw implementation of the same transport
    options: dict[str, Any] = field(default_factory=dict)
    #: Import pygnetic from this directory instead (``--versus``).
    path: str | None = None
    #: The scenarios this one runs in (None: every one).
    scenarios: tuple[str, ...] | None = None
    #: Modules it needs besides its transport's (a default pygnetic Client needs
    #: pyenet even when it ends on TCP: without it there is no fallback to time).
    needs: tuple[str, ...] = ()
    #: What the row is, shown under the tables it appears in (None: its name says it).
    note: str | None = None
    #: The row this one is a variant of: their paired ratios are printed too.
    compare_to: str | None = None
    #: The hand-written row doing this one's per-message work (``hand-enet``,
    #: ``hand-tcp``): the paired ratios to it are printed too, beside those to raw.
    floor: str | None = None
    #: Targets for the paired ratios to :attr:`compare_to`: scenario name to
    #: metric key to bound (upper for a lower-is-better metric, else lower).
    variant_targets: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Upper bounds on the scenario's parameters for this row, by name (a row
    #: that waits on a simulated network sends fewer pings, say).
    caps: dict[str, int] = field(default_factory=dict)

    @property
    def is_raw(self) -> bool:
        return self.name == self.baseline

    def runs_in(self, scenario: str) -> bool:
        return self.scenarios is None or scenario in self.scenarios

    def params(self, params: dict) -> dict:
        """A scenario's parameters for this row: ``params`` within :attr:`caps`."""
        return {
            name: min(value, self.caps[name]) if name in self.caps else value
            for name, value in params.items()
        }

    def load(self):
        if self.path and sys.path[0] != self.path:  # a worker's first load: no pygnetic yet
            if "pygnetic" in sys.modules:
                raise RuntimeError("pygnetic was imported before choosing which one")
            sys.path.insert(0, self.path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # asyncore, asynchat
            return importlib.import_module(f"benchmarks.impls.{self.module}")

    def prepare(self) -> None:
        """In the parent, before any worker starts: what the row's workers share."""
        if self.options.get("tls"):
            from . import certs

            certs.prepare()

    def missing(self) -> str | None:
        """Why this implementation cannot run here, or None."""
        needs = {
            "raw_enet": "enet",
            "pygnetic_impl": None,
            "raw_tcp": None,
            "hand_enet": "enet",
            "hand_tcp": None,
            "podsixnet_impl": "PodSixNet",
            "raw_websocket": "websockets",
            "raw_websocket_sync": "websockets",
        }[self.module]
        if self.transport == "enet":
            needs = "enet"
        if self.module == "podsixnet_impl" and sys.version_info >= (3, 12):
            return "PodSixNet needs asyncore, removed in Python 3.12"
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # a row that needs pygame
        for module in ([needs] if needs else []) + list(self.needs):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    importlib.import_module(module)
            except ImportError as exc:
                return f"{module} is not installed ({exc})"
        return None


BOTH = ("enet", "socket")  # what a default pygnetic Server listens on
#: The scenarios that show what a server listening on ENet and TCP costs.
DUAL_SERVER_SCENARIOS = ("throughput", "roundtrip")
#: Rows for the connect scenario only: pygnetic's defaults, no adapter pinned.
DEFAULT_CONNECT = ("connect",)
#: Next to no delay (one microsecond: a packet is due before the update that
#: sent it is over), yet every transport is wrapped in the network simulator
#: (``Conditions.active``): what the layer itself costs.
SIMULATE_LEAST = "latency=0.001ms"
#: A delay under a millisecond: a host waiting in ``update(timeout)`` wakes for
#: a held packet with a millisecond timeout, so the round trip shows that.
SIMULATE_SUB_MS = "latency=0.1ms"
#: A bad but ordinary network, to show that the round trip is what was set.
SIMULATE_REALISTIC = "latency=20ms jitter=5ms loss=2%"
#: The scenarios that show what the simulator costs when on.
SIMULATED_SCENARIOS = ("throughput", "roundtrip", "fanout", "many")
#: A server's ``reconnect_grace``: each client (``reconnect=True``, the default)
#: gets a resumable session, so both sides keep every reliable message they
#: send until the peer acknowledges it, and count what they deliver.
RECONNECT_GRACE = 30.0
#: The scenarios that show what a resumable session costs.
SESSION_SCENARIOS = ("throughput", "roundtrip", "fanout")
_SESSION_NOTE = (
    f"server reconnect_grace={RECONNECT_GRACE:g}: a resumable session, every reliable "
    "message kept until acknowledged"
)

#: The scenarios of the hand-written floors: those where pygnetic's per-message
#: work is what is measured (not a connect, whose handshake they do not do, nor
#: bytes, the raw row's by construction).
FLOOR_SCENARIOS = ("throughput", "roundtrip", "fanout", "many")
_HAND_NOTE = (
    "raw {} + msgpack with pygnetic's per-message work by hand: each message checked "
    "(a [known type id, *fields] list, else refused), built as a namedtuple, given to a "
    "handler's net_<name>(message, **kwargs); each send a net_<name>(peer, ...) that "
    "checks the packed size"
)
#: The scenario of the rows whose server sends the state in a loop over connections.
FANOUT_ONLY = ("fanout",)
_LOOP_NOTE = (
    "the server's state sent as the documentation's loop, "
    "for c in server.connections(): c.net_state(...), instead of one Server.broadcast"
)
#: The scenarios of the rows whose server receives through pygame events.
EVENTS_SCENARIOS = ("throughput", "roundtrip")
#: What receiving through pygame events may cost the server, per message, over a Handler.
EVENTS_TARGETS = {"throughput": {"server_cpu_us": 1.3}}
_EVENTS_NOTE = (
    "no Handler: the server receives through pygame events (pygnetic.init(events=True), "
    "SDL's dummy video driver), its loop server.update(timeout) then pygame.event.get(), "
    "counting NET_RECEIVED chat_msg and answering ping; target: throughput server CPU "
    "per message within 1.3× of the handler path"
)

#: The scenarios of the WebSocket and TLS rows.
WEBSOCKET_SCENARIOS = ("throughput", "roundtrip", "bytes")
_TLS_NOTE = "TLS (tls=, a throwaway trustme certificate, verified by the client)"

IMPLS = [
    Impl("raw-enet", "raw_enet", "enet", "raw-enet"),
    Impl(
        "hand-enet",
        "hand_enet",
        "enet",
        "raw-enet",
        scenarios=FLOOR_SCENARIOS,
        note=_HAND_NOTE.format("pyenet"),
    ),
    Impl(
        "pygnetic-enet",
        "pygnetic_impl",
        "enet",
        "raw-enet",
        {"adapter": "enet"},
        floor="hand-enet",
    ),
    Impl(
        "pygnetic-enet+tcp-server",
        "pygnetic_impl",
        "enet",
        "raw-enet",
        {"adapter": "enet", "server_adapter": BOTH},
        scenarios=DUAL_SERVER_SCENARIOS,
        compare_to="pygnetic-enet",
        note="client on ENet, server on ENet and TCP (the default Server)",
    ),
    Impl(
        "pygnetic-enet-loop",
        "pygnetic_impl",
        "enet",
        "raw-enet",
        {"adapter": "enet", "fanout": "loop"},
        scenarios=FANOUT_ONLY,
        compare_to="pygnetic-enet",
        note=_LOOP_NOTE,
    ),
    Impl(
        "pygnetic-enet-events",
        "pygnetic_impl",
        "enet",
        "raw-enet",
        {"adapter": "enet", "events": True},
        scenarios=EVENTS_SCENARIOS,
        needs=("pygame",),
        compare_to="pygnetic-enet",
        variant_targets=EVENTS_TARGETS,
        note=_EVENTS_NOTE,
    ),
    Impl(
        "pygnetic-enet-sim",
        "pygnetic_impl",
        "enet",
        "raw-enet",
        {"adapter": "enet", "simulate": SIMULATE_LEAST},
        scenarios=SIMULATED_SCENARIOS,
        compare_to="pygnetic-enet",
        note=f"server and client under the network simulator, simulate={SIMULATE_LEAST!r}",
    ),
    Impl(
        "pygnetic-enet-resume",
        "pygnetic_impl",
        "enet",
        "raw-enet",
        {"adapter": "enet", "reconnect_grace": RECONNECT_GRACE},
        scenarios=SESSION_SCENARIOS,
        compare_to="pygnetic-enet",
        note=_SESSION_NOTE,
    ),
    Impl(
        "pygnetic-enet-sim-0.1ms",
        "pygnetic_impl",
        "enet",
        "raw-enet",
        {"adapter": "enet", "simulate": SIMULATE_SUB_MS},
        scenarios=("roundtrip",),
        compare_to="pygnetic-enet",
        caps={"pings": 1000},
        note=f"both sides simulate={SIMULATE_SUB_MS!r}: a held packet waits for a "
        "millisecond timeout; 1000 pings",
    ),
    Impl(
        "pygnetic-enet-sim-20ms",
        "pygnetic_impl",
        "enet",
        "raw-enet",
        {"adapter": "enet", "simulate": SIMULATE_REALISTIC},
        scenarios=("roundtrip",),
        compare_to="pygnetic-enet",
        caps={"pings": 300},
        note=f"both sides simulate={SIMULATE_REALISTIC!r} (+40 ms a round trip "
        "expected); 300 pings",
    ),
    Impl(
        "pygnetic-default",
        "pygnetic_impl",
        "enet",  # a default connect must end on ENet here; the run fails otherwise
        "raw-enet",
        {"adapter": None},
        scenarios=DEFAULT_CONNECT,
        needs=("enet",),
        compare_to="pygnetic-enet",
        note="default Client (ENet, then TCP) to a default Server (ENet and TCP)",
    ),
    Impl("raw-tcp", "raw_tcp", "tcp", "raw-tcp"),
    Impl(
        "hand-tcp",
        "hand_tcp",
        "tcp",
        "raw-tcp",
        scenarios=FLOOR_SCENARIOS,
        note=_HAND_NOTE.format("TCP"),
    ),
    Impl(
        "pygnetic-tcp",
        "pygnetic_impl",
        "tcp",
        "raw-tcp",
        {"adapter": "socket"},
        floor="hand-tcp",
    ),
    Impl(
        "pygnetic-tcp+enet-server",
        "pygnetic_impl",
        "tcp",
        "raw-tcp",
        {"adapter": "socket", "server_adapter": BOTH},
        scenarios=DUAL_SERVER_SCENARIOS,
        needs=("enet",),
        compare_to="pygnetic-tcp",
        note="client on TCP, server on ENet and TCP (the default Server)",
    ),
    Impl(
        "pygnetic-tcp-loop",
        "pygnetic_impl",
        "tcp",
        "raw-tcp",
        {"adapter": "socket", "fanout": "loop"},
        scenarios=FANOUT_ONLY,
        compare_to="pygnetic-tcp",
        note=_LOOP_NOTE,
    ),
    Impl(
        "pygnetic-tcp-events",
        "pygnetic_impl",
        "tcp",
        "raw-tcp",
        {"adapter": "socket", "events": True},
        scenarios=EVENTS_SCENARIOS,
        needs=("pygame",),
        compare_to="pygnetic-tcp",
        variant_targets=EVENTS_TARGETS,
        note=_EVENTS_NOTE,
    ),
    Impl(
        "pygnetic-tcp-sim",
        "pygnetic_impl",
        "tcp",
        "raw-tcp",
        {"adapter": "socket", "simulate": SIMULATE_LEAST},
        scenarios=SIMULATED_SCENARIOS,
        compare_to="pygnetic-tcp",
        note=f"server and client under the network simulator, simulate={SIMULATE_LEAST!r}",
    ),
    Impl(
        "pygnetic-tcp-resume",
        "pygnetic_impl",
        "tcp",
        "raw-tcp",
        {"adapter": "socket", "reconnect_grace": RECONNECT_GRACE},
        scenarios=SESSION_SCENARIOS,
        compare_to="pygnetic-tcp",
        note=_SESSION_NOTE + " (over TCP: every message)",
    ),
    Impl(
        "pygnetic-fallback-0.5s",
        "pygnetic_impl",
        "tcp",  # ENet gets no answer from a TCP-only server: TCP must carry it
        "raw-tcp",
        {"adapter": None, "server_adapter": "socket"},
        scenarios=DEFAULT_CONNECT,
        needs=("enet",),
        note="default Client to a TCP-only Server: ENet, no answer, TCP after "
        "fallback_delay=0.5 (the default)",
    ),
    Impl(
        "pygnetic-fallback-0.05s",
        "pygnetic_impl",
        "tcp",
        "raw-tcp",
        {"adapter": None, "server_adapter": "socket", "fallback_delay": 0.05},
        scenarios=DEFAULT_CONNECT,
        needs=("enet",),
        note="the same with fallback_delay=0.05",
    ),
    Impl("podsixnet", "podsixnet_impl", "tcp", "raw-tcp"),
    Impl(
        "pygnetic-tls",
        "pygnetic_impl",
        "tcp",
        "raw-tcp",
        {"adapter": "socket", "tls": True},
        scenarios=WEBSOCKET_SCENARIOS,
        needs=("trustme",),
        compare_to="pygnetic-tcp",
        note=_TLS_NOTE,
    ),
    Impl(
        "raw-websocket",
        "raw_websocket",
        "websocket",
        "raw-websocket",
        scenarios=WEBSOCKET_SCENARIOS,
        note="websockets' sans-I/O ServerProtocol/ClientProtocol over selectors + msgpack, "
        "by hand: the WebSocket floor",
    ),
    Impl(
        "raw-websocket-sync",
        "raw_websocket_sync",
        "websocket",
        "raw-websocket",
        scenarios=WEBSOCKET_SCENARIOS,
        note="websockets.sync serve() and connect(), compression off: a handler thread "
        "per connection, one sendall per message (the library's blocking API)",
    ),
    Impl(
        "pygnetic-websocket",
        "pygnetic_impl",
        "websocket",
        "raw-websocket",
        {"adapter": "websocket"},
        scenarios=WEBSOCKET_SCENARIOS,
        needs=("websockets",),
    ),
    Impl(
        "pygnetic-wss",
        "pygnetic_impl",
        "websocket",
        "raw-websocket",
        {"adapter": "websocket", "tls": True},
        scenarios=WEBSOCKET_SCENARIOS,
        needs=("websockets", "trustme"),
        compare_to="pygnetic-websocket",
        note="WebSocket over " + _TLS_NOTE,
    ),
]

#: ``DIR=LABEL``: also run pygnetic from the checkout in DIR, as ``pygnetic-enet@LABEL``
#: and ``pygnetic-tcp@LABEL`` (set by ``--versus``; an environment variable so
#: that worker processes see it however they start).
VERSUS_ENV = "PYGNETIC_BENCH_VERSUS"


def _versus() -> list[Impl]:
    spec = os.environ.get(VERSUS_ENV)
    if not spec:
        return []
    path, _, label = spec.partition("=")
    return [
        Impl(
            f"{impl.name}@{label}", impl.module, impl.transport, impl.baseline, impl.options, path
        )
        for impl in IMPLS
        if impl.name in ("pygnetic-enet", "pygnetic-tcp")  # a pygnetic of any age runs these
    ]


IMPLS += _versus()
BY_NAME = {impl.name: impl for impl in IMPLS}


def make_server(name: str, max_clients: int):
    impl = BY_NAME[name]
    return impl.load().Server(max_clients, **impl.options)


def make_client(name: str, port: int | None, count: int):
    """``count`` connections to ``port``; with ``port=None`` none yet (``connect(port)``)."""
    impl = BY_NAME[name]
    return impl.load().Client(port, count, **impl.options)
