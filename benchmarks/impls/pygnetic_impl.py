"""pygnetic, used the way its documentation shows: Handler methods and net_<name>().

Options (``Impl.options``): ``adapter`` for both sides (None: pygnetic's
default, ENet and TCP), ``server_adapter`` for the server instead, the
client's ``fallback_delay`` (None: pygnetic's default), ``simulate``
for both sides: the network-conditions simulator's text (see
:mod:`pygnetic.simulate`), or None for none, whatever ``PYGNETIC_SIMULATE``
says, so that a plain row is never simulated by accident, and the server's
``reconnect_grace`` (0: no sessions; the client asks for one by default):
with one, every connection of the row must be resumable once connected,
and ``tls`` for both sides: TLS with the run's throwaway certificate
(:mod:`.certs`), the server given its certificate and key, the client the
authority to verify it with. The server's alone: ``fanout`` (``"broadcast"``:
``broadcast_state`` is one ``Server.broadcast``; ``"loop"``: the loop the
documentation shows, ``connection.net_state(...)`` for each of
``server.connections()``) and ``events`` (True: no Handler; the server
receives through pygame events, its ``pump`` an ``update()`` and then one
drain of ``pygame.event.get()``, as a game's loop would, under SDL's dummy
video driver).
"""

from __future__ import annotations

import logging
import os

import pygnetic
from pygnetic.message import MessageFactory

from .. import common
from . import certs

pygnetic.init(logging_lvl=logging.WARNING)


class _QuietSimulator(logging.Filter):
    """Drop the "network simulator ON" warning: a simulated row says so in its note."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("network simulator ON")


logging.getLogger("pygnetic").addFilter(_QuietSimulator())


def _factory() -> MessageFactory:
    factory = MessageFactory("msgpack")
    for name, fields, options in common.MESSAGES:
        factory.register(name, fields, **options)
    return factory


_SAME = object()


class Server:
    def __init__(
        self,
        max_clients: int,
        adapter: str | tuple[str, ...] | None,
        server_adapter: object = _SAME,
        fallback_delay: float | None = None,  # the client's
        simulate: str | None = None,
        reconnect_grace: float = 0.0,
        tls: bool = False,
        fanout: str = "broadcast",
        events: bool = False,
    ) -> None:
        if fanout not in ("broadcast", "loop"):
            raise ValueError(f"fanout must be 'broadcast' or 'loop', not {fanout!r}")
        if server_adapter is not _SAME:
            adapter = server_adapter
        counts = self
        self.chats = self.moves = 0

        class GameHandler(pygnetic.Handler):
            def net_chat_msg(self, message, **kwargs):
                counts.chats += 1

            def net_ping(self, message, **kwargs):
                self.connection.net_pong(message.seq)

            def net_move(self, message, **kwargs):
                counts.moves += 1

        factory = _factory()
        if events:
            _pygame_events()
        self.server = pygnetic.Server(
            "127.0.0.1",
            0,
            conn_limit=max_clients,
            handler=None if events else GameHandler,
            message_factory=factory,
            adapter=adapter,
            channels=common.CHANNELS,
            **_unlimited(),
            **_simulate(pygnetic.Server, simulate),
            **_reconnect_grace(reconnect_grace),
            **({"tls": certs.server_files()} if tls else {}),
        )
        _check_simulated(self.server, simulate)
        self.resume = bool(reconnect_grace)
        self.port = self.server.address[1]
        self.pump = self.server.update if not events else self._events_pump(factory)
        self.loop = fanout == "loop"

    @property
    def clients(self) -> int:
        connections = self.server.connections()
        if self.resume:
            _check_resumable(connections, "server")
        return len(connections)

    def _events_pump(self, factory: MessageFactory):
        """``update(timeout)``, then the received messages from pygame's queue."""
        import pygame

        from pygnetic import event

        update, get = self.server.update, pygame.event.get
        network, received = event.NETWORK, event.NET_RECEIVED
        chat_msg, ping, move = (factory.get_by_name(name) for name in ("chat_msg", "ping", "move"))

        def pump(timeout_ms: int) -> None:
            update(timeout_ms)
            for e in get():
                if e.type == network and e.net_type == received:
                    msg_type = e.msg_type
                    if msg_type is chat_msg:
                        self.chats += 1
                    elif msg_type is ping:
                        e.connection.net_pong(e.message.seq)
                    elif msg_type is move:
                        self.moves += 1

        return pump

    def broadcast_state(self, values) -> None:
        broadcast = getattr(self.server, "broadcast", None)
        if broadcast is not None and not self.loop:  # packs once for every connection
            broadcast("state", *values)
        else:  # the documented loop, or a pygnetic from before Server.broadcast (--versus)
            for connection in self.server.connections():
                connection.net_state(*values)

    def close(self) -> None:
        self.server.close(linger_ms=100)


class Client:
    def __init__(
        self,
        port: int | None,
        count: int,
        adapter: str | tuple[str, ...] | None,
        server_adapter: object = _SAME,  # the server's
        fallback_delay: float | None = None,
        simulate: str | None = None,
        reconnect_grace: float = 0.0,  # the server's
        tls: bool = False,
        fanout: str = "broadcast",  # the server's
        events: bool = False,  # the server's
    ) -> None:
        counts = self
        self.pongs = self.states = 0
        self.last_pong = -1

        class PlayerHandler(pygnetic.Handler):
            def net_pong(self, message, **kwargs):
                counts.pongs += 1
                counts.last_pong = message.seq

            def net_state(self, message, **kwargs):
                counts.states += 1

        self.handler = PlayerHandler
        delay = {} if fallback_delay is None else {"fallback_delay": fallback_delay}
        self.client = pygnetic.Client(
            conn_limit=count,
            message_factory=_factory(),
            adapter=adapter,
            channels=common.CHANNELS,
            **delay,
            **_simulate(pygnetic.Client, simulate),
            **({"tls": certs.authority_file()} if tls else {}),
        )
        _check_simulated(self.client, simulate)
        self.resume = bool(reconnect_grace)
        self.count = count
        self.connections = []
        self.pump = self.client.update
        if port is not None:
            self.connect(port)

    def connect(self, port: int) -> None:
        for _ in range(self.count):
            connection = self.client.connect("127.0.0.1", port)
            connection.add_handler(self.handler())
            self.connections.append(connection)

    @property
    def connected(self) -> int:
        connected = sum(connection.connected for connection in self.connections)
        if connected and self.resume:  # not in a plain row: the connect scenario times this
            _check_resumable([c for c in self.connections if c.connected], "client")
        return connected

    @property
    def adapters(self) -> list[str]:
        """What carries each connection: 'ENet' or 'TCP' ('?' before pygnetic knew it)."""
        return [getattr(connection, "adapter", "?") for connection in self.connections]

    def send_chats(self, n: int) -> None:
        send = self.connections[0].net_chat_msg
        player, msg = common.CHAT_ARGS
        for _ in range(n):
            send(player, msg)

    def send_ping(self, seq: int) -> None:
        self.connections[0].net_ping(seq)

    def send_moves(self) -> None:
        for connection in self.connections:
            connection.net_move(1, -1)

    def wire(self):
        # Measurement only: read the transport's counters behind the public API
        # (under the simulator, those of the real transport and link it wraps).
        transport, link = self.client._transport, self.connections[0]._link
        if getattr(self.client, "simulator", None) is not None:
            transport, link = transport.inner, link.inner
        if hasattr(transport, "_host"):
            return common.enet_wire(transport._host)
        if not hasattr(link, "sock"):  # WebSocket: the socket adapter's link beneath
            link = link.inner
        return common.tcp_wire(link.sock)

    def close(self) -> None:
        self.client.close(linger_ms=100)


def _pygame_events() -> None:
    """pygame initialised without a window (SDL's dummy drivers), and pygnetic's events on."""
    os.environ["SDL_VIDEODRIVER"] = "dummy"  # before pygame.init() reads it
    os.environ["SDL_AUDIODRIVER"] = "dummy"
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    pygame.init()
    pygnetic.init(events=True, logging_lvl=logging.WARNING)


def _unlimited() -> dict:
    """No rate limit: the benchmark client sends as fast as it can, on purpose.

    The receive budget stays at its default, so its cost is measured. A
    pygnetic from before rate limits (--versus) takes no such option.
    """
    import inspect

    if "rate_limit" in inspect.signature(pygnetic.Server).parameters:
        return {"rate_limit": None}
    return {}


def _simulate(host: type, simulate: str | None) -> dict:
    """``simulate=`` for a host: the row's conditions, or False (not the environment's).

    A pygnetic from before the simulator (--versus) takes no such option, and
    cannot run a simulated row.
    """
    import inspect

    if "simulate" in inspect.signature(host).parameters:
        return {"simulate": simulate if simulate is not None else False}
    if simulate is not None:
        raise RuntimeError("this pygnetic has no network simulator")
    return {}


def _check_simulated(host, simulate: str | None) -> None:
    """A simulated row must wrap every transport (conditions that change nothing
    do not), and a plain row none: otherwise the row measures something else."""
    transports = getattr(host, "_transports", ())  # none before the simulator (--versus)
    wrapped = [type(t).__name__ == "SimulatedTransport" for t in transports]
    if simulate is not None and not (wrapped and all(wrapped)):
        raise RuntimeError(f"simulate={simulate!r} did not wrap every transport")
    if simulate is None and any(wrapped):
        raise RuntimeError("a plain row's transports are wrapped by the simulator")


def _reconnect_grace(grace: float) -> dict:
    """``reconnect_grace=`` for a server: the row's, 0 (none) for a plain row.

    A pygnetic from before sessions (--versus) takes no such option, and
    cannot run a session row.
    """
    import inspect

    if "reconnect_grace" in inspect.signature(pygnetic.Server).parameters:
        return {"reconnect_grace": grace}
    if grace:
        raise RuntimeError("this pygnetic has no resumable sessions")
    return {}


def _check_resumable(connections, side: str) -> None:
    """A session row's open connections must each have a session that can resume:
    one without (a link that cannot count, a session given up) measures a plain row."""
    lacking = [c for c in connections if not c.resumable]
    if lacking:
        raise RuntimeError(
            f"{len(lacking)} {side} connection(s) of a session row are not resumable"
        )
