"""The handshake every connection starts with, whatever transport carries it.

Transports only open links and move bytes; the first thing the core sends on
a new link is a *hello* (client to server) and the first thing it expects back
is an *answer* (server to client). Both are one frame::

    b"PGN"   protocol version (uint8)   payload length (uint16, big-endian)   payload

The payload is a msgpack map with string keys, whatever serializer the
messages use (msgpack is always installed, and the server must read a hello
before it knows whether the client's serializer matches its own). A frame is
one packet on a packet transport (ENet) and the first bytes of the stream on
a stream transport (TCP); the messages follow it.

Hello fields:

=================  ===========================================================
``registry``       16-byte digest of the message registry and serializer
``serializer``     the serializer's name (for a readable refusal)
``messages``       how many messages are registered (the same)
``types``          the wire types in a few words (the same), e.g. ``'pygame types'``
``credentials``    what the client passed to ``connect(credentials=...)``, or None
``session``        the token of a session to resume, or None
``resume``         True when the client can resume sessions (it reconnects)
``received``       with ``session``: the reliable messages the client delivered
                   on the lost link, ``[[channel, count], ...]``
=================  ===========================================================

Answer fields: ``code`` (0 accepts, otherwise a
:class:`~pygnetic.protocol.CloseCode`), ``reason`` (text, refusals only), and,
when the server grants a resumable session: ``session`` (the token to resume
it with, 32 bytes, new at each resume), ``grace`` (the seconds the server
waits for a lost client) and, answering a resume, ``received`` (what the
server delivered on the lost link). :mod:`pygnetic._session` says how the
counts make sure nothing reliable is lost or delivered twice.
Newer peers may add fields; unknown fields are ignored.

Everything read here comes from an unauthenticated peer: the frame size is
bounded before anything is decoded, msgpack's length limits bound what the
payload may allocate, and no remote value is formatted without a size cap.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, NamedTuple

import msgpack

from ._decoding import remote_text
from ._session import TOKEN_BYTES
from .errors import RemoteError
from .protocol import MAX_REASON_LENGTH, PROTOCOL_VERSION, CloseCode
from .wire_types import GAME_CODES

if TYPE_CHECKING:
    from .message import MessageFactory

__all__ = [
    "HEADER",
    "MAGIC",
    "MAX_PAYLOAD",
    "Answer",
    "FrameReader",
    "HandshakeError",
    "Hello",
    "encode_answer",
    "encode_hello",
    "parse_answer",
    "parse_hello",
    "types_summary",
]

#: First bytes of every handshake frame.
MAGIC = b"PGN"
#: Frame header: magic, protocol version, payload length.
HEADER = struct.Struct("!3sBH")
#: Largest payload accepted, in bytes: room for credentials such as a web token.
MAX_PAYLOAD = 8192
#: Longest refusal reason kept from a peer, in characters (the protocol's one cap).
MAX_REASON = MAX_REASON_LENGTH
#: Longest grace period a client believes a server grants, in seconds (a day).
MAX_GRACE = 86400.0

# A payload is one small map: cap what msgpack may allocate for it.
_LIMITS = {
    "max_str_len": MAX_PAYLOAD,
    "max_bin_len": MAX_PAYLOAD,
    "max_array_len": 256,
    "max_map_len": 64,
    "max_ext_len": 0,
}


class HandshakeError(RemoteError, ValueError):
    """A peer's handshake frame is not acceptable; the link closes with ``code``.

    Raised inside ``update()`` and handled there: the link is closed, with an
    answer that says why when the peer spoke the handshake's framing at all.
    """

    def __init__(self, code: CloseCode, reason: str, *, answer: bool = True) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        #: Whether the peer is a pygnetic peer worth an answer (not a port scanner).
        self.answer = answer


class Hello(NamedTuple):
    """What a client says when it connects.

    Its ``repr`` leaves the credentials and the session token out: a hello
    that ends up in a log or a traceback shows neither.
    """

    registry: bytes
    serializer: str
    messages: int
    credentials: Any
    session: bytes | None
    resume: bool = False
    received: Any = None
    types: str = ""

    def __repr__(self) -> str:
        return (
            f"Hello(serializer={self.serializer!r}, messages={self.messages}, "
            f"credentials={'<hidden>' if self.credentials is not None else None}, "
            f"session={'<hidden>' if self.session is not None else None})"
        )


class Answer(NamedTuple):
    """What the server answers: code 0 to accept, else why it refuses.

    ``session`` and ``grace``: the session granted, if any; ``received``:
    the server's counts, answering a resume (unchecked: see
    :func:`pygnetic._session.parse_counts`).
    """

    code: int
    reason: str
    session: bytes | None = None
    grace: float = 0.0
    received: Any = None


def _frame(payload: dict[str, Any]) -> bytes:
    body = msgpack.packb(payload, use_bin_type=True)
    if len(body) > MAX_PAYLOAD:
        raise ValueError(f"handshake payload of {len(body)} bytes exceeds {MAX_PAYLOAD}")
    return HEADER.pack(MAGIC, PROTOCOL_VERSION, len(body)) + body


def encode_hello(
    factory: MessageFactory,
    credentials: Any = None,
    session: bytes | None = None,
    *,
    resume: bool = False,
    received: list[list[int]] | None = None,
) -> bytes:
    """Return the hello frame a client using ``factory`` sends.

    Raises:
        ValueError: ``credentials`` cannot be packed or is too large.
    """
    payload = {
        "registry": factory.registry_digest(),
        "serializer": factory.serializer.name,
        "messages": len(factory.names()),
        "types": types_summary(factory),
        "credentials": credentials,
        "session": session,
    }
    if resume:
        payload["resume"] = True
    if received is not None:
        payload["received"] = received
    try:
        return _frame(payload)
    except (TypeError, OverflowError) as exc:
        raise ValueError(f"credentials cannot be sent: {exc}") from exc


def types_summary(factory: MessageFactory) -> str:
    """The factory's wire types in a few words, for a refusal to name what differs."""
    wire = factory.wire_types
    game = sum(1 for each in wire if each.code in GAME_CODES)
    words = "pygame types" if wire.pygame_types else "no pygame types"
    return f"{words}, {game} game type(s)" if game else words


def encode_answer(
    code: int,
    reason: str = "",
    *,
    session: bytes | None = None,
    grace: float = 0.0,
    received: list[list[int]] | None = None,
) -> bytes:
    """Return the answer frame: ``code`` 0 accepts, any other refuses for ``reason``.

    An acceptance may grant a resumable ``session`` (its token and ``grace``),
    and answering a resume says what the server had ``received``.
    """
    payload: dict[str, Any] = {"code": int(code)}
    if code:
        payload["reason"] = reason[:MAX_REASON]
    if session is not None:
        payload["session"] = session
        payload["grace"] = float(grace)
    if received is not None:
        payload["received"] = received
    return _frame(payload)


class FrameReader:
    """Collects one handshake frame from packets or from the start of a stream."""

    __slots__ = ("_inbox", "size", "stream")

    def __init__(self, stream: bool) -> None:
        self.stream = stream
        #: Bytes of the frame, once it is complete.
        self.size = 0
        self._inbox = b""

    def feed(self, data: bytes) -> tuple[dict[str, Any] | None, bytes]:
        """Return ``(payload, rest)`` once a whole frame arrived, else ``(None, b"")``.

        ``rest`` holds stream bytes that followed the frame (messages).

        Raises:
            HandshakeError: The bytes are not a pygnetic handshake frame.
        """
        inbox = self._inbox + data if self._inbox else data
        if len(inbox) < HEADER.size:
            if not self.stream or not MAGIC.startswith(inbox[:3]):
                raise _not_pygnetic()
            self._inbox = inbox
            return None, b""
        magic, version, size = HEADER.unpack_from(inbox)
        if magic != MAGIC:
            raise _not_pygnetic()
        if version != PROTOCOL_VERSION:
            raise HandshakeError(
                CloseCode.REGISTRY_MISMATCH,
                f"peer speaks pygnetic protocol version {version}, this side {PROTOCOL_VERSION} "
                "(run the same pygnetic version on both sides)",
            )
        if size > MAX_PAYLOAD:
            raise HandshakeError(
                CloseCode.PROTOCOL_ERROR, f"handshake of {size} bytes is too large"
            )
        end = HEADER.size + size
        if len(inbox) < end:
            if not self.stream:
                raise HandshakeError(CloseCode.PROTOCOL_ERROR, "truncated handshake")
            self._inbox = inbox
            return None, b""
        if not self.stream and len(inbox) > end:
            raise HandshakeError(CloseCode.PROTOCOL_ERROR, "bytes after the handshake frame")
        self._inbox = b""
        self.size = end
        return _decode(inbox[HEADER.size : end]), inbox[end:]


def _not_pygnetic() -> HandshakeError:
    return HandshakeError(CloseCode.PROTOCOL_ERROR, "not a pygnetic peer", answer=False)


def _decode(body: bytes) -> dict[str, Any]:
    try:
        payload = msgpack.unpackb(body, raw=False, strict_map_key=True, **_LIMITS)
    except (msgpack.UnpackException, ValueError, TypeError) as exc:
        detail = type(exc).__name__
        raise HandshakeError(
            CloseCode.PROTOCOL_ERROR, f"undecodable handshake ({detail})"
        ) from exc
    if type(payload) is not dict:
        raise HandshakeError(CloseCode.PROTOCOL_ERROR, "handshake payload is not a map")
    return payload


def parse_hello(payload: dict[str, Any]) -> Hello:
    """Check a hello payload's field types and return it as a :class:`Hello`.

    Raises:
        HandshakeError: A field is missing or of the wrong type.
    """
    registry = payload.get("registry")
    serializer = payload.get("serializer")
    messages = payload.get("messages")
    session = payload.get("session")
    if (
        type(registry) is not bytes
        or type(serializer) is not str
        or type(messages) is not int
        or not (session is None or type(session) is bytes)
    ):
        raise HandshakeError(CloseCode.PROTOCOL_ERROR, "malformed hello")
    name = remote_text(serializer, 40)
    resume = payload.get("resume") is True
    received = payload.get("received")
    types = remote_text(payload.get("types"), 60) if type(payload.get("types")) is str else ""
    credentials = payload.get("credentials")
    return Hello(registry, name, messages, credentials, session, resume, received, types)


def parse_answer(payload: dict[str, Any]) -> Answer:
    """Check an answer payload and return it as an :class:`Answer`.

    Raises:
        HandshakeError: The code is missing or not an int.
    """
    code = payload.get("code")
    session = payload.get("session")
    grace = payload.get("grace", 0.0)
    if (
        type(code) is not int
        or not (session is None or (type(session) is bytes and len(session) == TOKEN_BYTES))
        or type(grace) not in (int, float)
        or not 0 <= grace <= MAX_GRACE
    ):
        raise HandshakeError(CloseCode.PROTOCOL_ERROR, "malformed answer from the server")
    reason = remote_text(payload.get("reason"), MAX_REASON)
    return Answer(code, reason, session, float(grace), payload.get("received"))
