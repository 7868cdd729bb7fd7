"""What LAN discovery and the lobby share: server descriptions, their limits, errors.

A game server is described by a name, a game name, a port, its player count
and capacity, a small dict of game-defined ``info``, and whether it is
``private`` (players need a password or a token to join). Descriptions arrive
from untrusted peers (a LAN datagram, a lobby message), so :func:`validate`
checks every field's type and size before anything else looks at it; the
same function checks what the local game passes in, with a local exception.
"""

from __future__ import annotations

import logging
import socket
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgpack

from ..errors import LocalError, PygneticError
from ..message import brief

if TYPE_CHECKING:
    from ..server import Server

__all__ = [
    "MAX_GAME_LENGTH",
    "MAX_INFO_DEPTH",
    "MAX_INFO_SIZE",
    "MAX_NAME_LENGTH",
    "MAX_PLAYERS",
    "LobbyError",
    "ServerInfo",
    "ServerInfoError",
    "validate",
]

#: Longest server name, in characters.
MAX_NAME_LENGTH = 64
#: Longest game name, in characters.
MAX_GAME_LENGTH = 32
#: Largest ``info`` dict, in bytes once msgpack-encoded.
MAX_INFO_SIZE = 1024
#: Deepest nesting of lists and dicts inside ``info`` (``{'a': [1]}`` is 2).
MAX_INFO_DEPTH = 4
#: Largest player count or capacity a server may announce.
MAX_PLAYERS = 1_000_000

_SCALARS = (str, bytes, int, float, bool, type(None))
# Control characters and line/paragraph separators would garble a server list.
_UNPRINTABLE = frozenset(("Cc", "Zl", "Zp"))


class ServerInfoError(LocalError, ValueError):
    """A server description given to an announcer breaks the discovery limits.

    Raised for a name, game name or ``info`` that is too long or of the wrong
    type, or a port or player count out of range; the message says which.
    """


class LobbyError(PygneticError):
    """The lobby refused a request, or could not be reached; ``str()`` says why."""


@dataclass(frozen=True)
class ServerInfo:
    """A game server found on the LAN or listed by a lobby.

    Attributes:
        name: The server's name, as its owner chose it.
        host: Address to connect to: the address the announcement came from
            (LAN), or the address the server registered from (lobby).
        port: Port of the game server (not of the discovery socket).
        players: Players connected when it last announced itself.
        max_players: How many players it takes.
        info: Game-defined details (map, mode, version...); str keys.
        game: Game name, so several games can share a LAN or a lobby.
        private: True when the server says players need a password or a
            token to join (see :doc:`/howto/private-room`), so a list can
            show a lock and ask for it before connecting. It is what the
            server announced, not a check: the server's ``authenticate``
            decides. False for servers that announce nothing about it.
    """

    name: str
    host: str
    port: int
    players: int = 0
    max_players: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    game: str = ""
    private: bool = False

    def __hash__(self) -> int:
        return hash((self.host, self.port))

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)``, ready for ``client.connect(*server.address)``."""
        return self.host, self.port

    @property
    def full(self) -> bool:
        """True when ``players`` has reached ``max_players``."""
        return self.players >= self.max_players


def validate(
    name: Any,
    game: Any,
    port: Any,
    players: Any,
    max_players: Any,
    info: Any,
    private: Any = False,
    error: type[Exception] = ServerInfoError,
) -> None:
    """Check one server description; raise ``error`` naming the first problem.

    ``error`` is :class:`ServerInfoError` for what the local game passes in and
    :class:`~pygnetic.errors.MessageError` for what arrives from the network.
    """
    problem = (
        _text_problem("name", name, MAX_NAME_LENGTH)
        or _text_problem("game", game, MAX_GAME_LENGTH)
        or _int_problem("port", port, 1, 65535)
        or _int_problem("players", players, 0, MAX_PLAYERS)
        or _int_problem("max_players", max_players, 0, MAX_PLAYERS)
        or info_problem(info)
        or _bool_problem("private", private)
    )
    if problem:
        raise error(problem)


def _text_problem(what: str, value: Any, limit: int) -> str | None:
    if type(value) is not str:
        return f"{what} must be a str, not {type(value).__name__}"
    if len(value) > limit:
        return f"{what} is {len(value)} characters long, over the limit of {limit}"
    if any(unicodedata.category(char) in _UNPRINTABLE for char in value):
        return f"{what} {brief(value, 40)} contains control characters or line breaks"
    return None


def _int_problem(what: str, value: Any, low: int, high: int) -> str | None:
    if type(value) is not int or not low <= value <= high:
        return f"{what} must be an int from {low} to {high}, not {brief(value, 40)}"
    return None


def _bool_problem(what: str, value: Any) -> str | None:
    if type(value) is not bool:
        return f"{what} must be True or False, not {brief(value, 40)}"
    return None


def check_count(what: str, value: Any, high: int = MAX_PLAYERS) -> None:
    """Raise :class:`ValueError` unless ``value`` is an int from 0 to ``high``."""
    problem = _int_problem(what, value, 0, high)
    if problem:
        raise ValueError(problem)


def info_problem(info: Any) -> str | None:
    """Return why ``info`` is not an acceptable info dict, or None if it is."""
    if type(info) is not dict:
        return f"info must be a dict, not {type(info).__name__}"
    problem = _value_problem(info, 1)
    if problem:
        return f"info: {problem}"
    try:
        size = len(msgpack.packb(info))
    except (TypeError, ValueError, OverflowError) as exc:
        return f"info cannot be encoded with msgpack ({exc})"
    if size > MAX_INFO_SIZE:
        return f"info encodes to {size} bytes, over the limit of {MAX_INFO_SIZE}"
    return None


def _value_problem(value: Any, depth: int) -> str | None:
    if isinstance(value, _SCALARS):
        return None
    if depth > MAX_INFO_DEPTH:
        return f"nested deeper than {MAX_INFO_DEPTH} levels"
    if isinstance(value, Mapping):
        for key, item in value.items():
            if type(key) is not str:
                return f"keys must be str, not {type(key).__name__}"
            problem = _value_problem(item, depth + 1)
            if problem:
                return problem
        return None
    if isinstance(value, (list, tuple)):
        for item in value:
            problem = _value_problem(item, depth + 1)
            if problem:
                return problem
        return None
    return f"values must be str, bytes, numbers, None, lists or dicts, not {type(value).__name__}"


class Described:
    """What an announcer (LAN or lobby) says about its game server.

    Holds ``name``, ``game``, ``info`` and ``private`` (checked when set) and
    reads the port, player count and capacity from ``server`` unless they are
    given.
    """

    server: Server | None
    port: int | None
    players: int | None
    max_players: int | None

    def _describe(
        self,
        server: Server | None,
        name: str | None,
        info: Mapping[str, Any] | None,
        game: str,
        port: int | None,
        players: int | None,
        max_players: int | None,
        private: bool = False,
    ) -> None:
        if server is None and port is None:
            raise TypeError(f"{type(self).__name__} needs a server or a port")
        self.server = server
        self.port, self.players, self.max_players = port, players, max_players
        self.name = socket.gethostname()[:MAX_NAME_LENGTH] if name is None else name
        self.game = game
        self.info = {} if info is None else info
        self.private = private
        self.description()  # check everything now rather than at the first update

    @property
    def name(self) -> str:
        """Server name shown to players; setting it checks the limit."""
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        validate(value, "", 1, 0, 0, {})
        self._name = value

    @property
    def game(self) -> str:
        """Game name; setting it checks the limit."""
        return self._game

    @game.setter
    def game(self, value: str) -> None:
        validate("", value, 1, 0, 0, {})
        self._game = value

    @property
    def info(self) -> dict[str, Any]:
        """Game-defined details; assign a new dict to change them (it is checked)."""
        return self._info

    @info.setter
    def info(self, value: Mapping[str, Any]) -> None:
        value = dict(value)
        problem = info_problem(value)
        if problem:
            raise ServerInfoError(problem)
        self._info = value

    @property
    def private(self) -> bool:
        """Whether players need a password or token to join; setting it checks it is a bool.

        Set it to True for a server whose ``authenticate`` asks for one
        (``Server(authenticate=...)``): browsers then see
        :attr:`ServerInfo.private <pygnetic.discovery.ServerInfo.private>`.
        """
        return self._private

    @private.setter
    def private(self, value: bool) -> None:
        problem = _bool_problem("private", value)
        if problem:
            raise ServerInfoError(problem)
        self._private = value

    def description(self) -> tuple[str, str, int, int, int, dict[str, Any], bool]:
        """Return ``(name, game, port, players, max_players, info, private)`` as announced next.

        Raises:
            ServerInfoError: ``port``, ``players`` or ``max_players`` is out of range.
        """
        server = self.server
        port, players, capacity = self.port, self.players, self.max_players
        if server is not None:
            port = server.address[1] if port is None else port
            players = len(server.connections()) if players is None else players
            capacity = server.conn_limit if capacity is None else capacity
        port, players, capacity = port or 0, players or 0, capacity or 0
        validate(self._name, self._game, port, players, capacity, self._info, self._private)
        return self._name, self._game, port, players, capacity, self._info, self._private


class LogThrottle:
    """Logs at most one line per ``period`` seconds and counts what it held back.

    Used for input from the network, so that a flood of bad packets costs a
    line every few seconds instead of filling the log.
    """

    def __init__(
        self,
        logger: logging.Logger,
        period: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._period = period
        self._clock = clock
        self._next = float("-inf")
        self._held = 0

    def __call__(self, level: int, message: str, *args: Any) -> None:
        """Log ``message % args`` at ``level`` unless a line went out recently."""
        now = self._clock()
        if now < self._next:
            self._held += 1
            return
        self._next = now + self._period
        if self._held:
            message += " (and %d similar line(s) held back)"
            args = (*args, self._held)
            self._held = 0
        self._log.log(level, message, *args)
