"""Constants shared by both ends of a connection: delivery modes and close codes.

A pygnetic connection carries, after the handshake (:mod:`pygnetic.handshake`,
the same on every transport), a sequence of messages, each packed by the
serializer as the array ``[type_id, *fields]``.
User messages have type ids ``0, 1, 2, ...`` in registration order. Negative
type ids are reserved for the few control messages the core itself sends:

========  =====================  ==============================================
type id   fields                 meaning
========  =====================  ==============================================
``-1``    ``stamp``              keepalive ping, answered by a pong
``-2``    ``stamp``              pong: the ping's stamp sent back (round trip)
``-3``    ``code, reason``       the sender is closing the connection, and why
``-4``    ``counts``             a resumable session's acknowledgement: the
                                 reliable messages delivered so far, as
                                 ``[[channel, count], ...]`` (see
                                 :mod:`pygnetic._session`); sent only on
                                 connections whose handshake granted a session
========  =====================  ==============================================

Every handshake frame carries :data:`PROTOCOL_VERSION`, and the registry
digest that both sides compare covers it too, so peers with incompatible wire
formats refuse each other with :attr:`CloseCode.REGISTRY_MISMATCH` instead of
misreading data.
"""

from __future__ import annotations

import enum

__all__ = [
    "MAX_REASON_LENGTH",
    "PACKET_FLAG_NO_ALLOCATE",
    "PACKET_FLAG_RELIABLE",
    "PACKET_FLAG_UNRELIABLE_FRAGMENT",
    "PACKET_FLAG_UNSEQUENCED",
    "PROTOCOL_VERSION",
    "CloseCode",
    "Delivery",
    "delivery_from_flags",
]

#: Version of the wire format; part of every registry hash.
PROTOCOL_VERSION = 2

#: Characters of a reason (a close, a refusal, a refused request) sent or
#: kept from the network, at most: a peer can make neither side hold more.
MAX_REASON_LENGTH = 500

PING = -1
PONG = -2
CLOSE = -3
ACKED = -4


class Delivery(str, enum.Enum):
    """How a message is delivered; set per message type or per call.

    ENet honours all three modes. TCP is a byte stream, so over the socket
    adapter every message is delivered reliably and in order whatever is asked,
    except that while the peer reads too slowly, a newer
    ``UNRELIABLE_SEQUENCED`` message of a type replaces the one still waiting.
    Strings are accepted wherever a ``Delivery`` is: ``delivery='unreliable'``.
    """

    #: Always arrives, in the order sent on its channel. The default.
    RELIABLE = "reliable"
    #: May be lost; a packet older than one already delivered on its channel
    #: is dropped. For fast-changing state such as positions. Over ENet a
    #: message larger than a datagram (about 1400 bytes) is lost whole when
    #: one of its fragments is, and never resent.
    UNRELIABLE_SEQUENCED = "unreliable_sequenced"
    #: May be lost or arrive out of order. For independent one-off events.
    UNRELIABLE = "unreliable"


# ENet's packet flags, with pyenet's values, so that pyenet is not needed to name them.
#: ``flags`` bit: reliable delivery (:attr:`Delivery.RELIABLE`).
PACKET_FLAG_RELIABLE = 1
#: ``flags`` bit: unsequenced, unreliable delivery (:attr:`Delivery.UNRELIABLE`).
PACKET_FLAG_UNSEQUENCED = 2
#: ``flags`` bit: accepted and ignored (a memory hint of ENet's C API).
PACKET_FLAG_NO_ALLOCATE = 4
#: ``flags`` bit: accepted and ignored (see :func:`delivery_from_flags`).
PACKET_FLAG_UNRELIABLE_FRAGMENT = 8
_KNOWN_FLAGS = 15


def delivery_from_flags(flags: int) -> Delivery:
    """Map ENet packet flags, pygnetic 1.0's ``flags`` send option, onto a :class:`Delivery`.

    ``register(..., flags=...)`` and ``net_<name>(..., flags=...)`` take them,
    as 1.0 did, in place of ``delivery``. The mapping is ENet's own:

    * :data:`PACKET_FLAG_RELIABLE` set: :attr:`Delivery.RELIABLE` (also with
      :data:`PACKET_FLAG_UNSEQUENCED`, which ENet then ignores);
    * :data:`PACKET_FLAG_UNSEQUENCED` alone: :attr:`Delivery.UNRELIABLE`;
    * neither (``flags=0``): :attr:`Delivery.UNRELIABLE_SEQUENCED`.

    :data:`PACKET_FLAG_NO_ALLOCATE` and :data:`PACKET_FLAG_UNRELIABLE_FRAGMENT`
    are accepted and ignored: the first concerns how ENet's C API holds the
    data, and pygnetic always sets the second on unreliable messages, so
    that one larger than a datagram is unreliable too: its fragments are not
    resent, and it is lost whole if one of them is. pygnetic 1.0 left it
    unset, so ENet sent such a message's fragments reliably; give a large
    message that must arrive :data:`PACKET_FLAG_RELIABLE`.

    Raises:
        ValueError: ``flags`` is not an int made of the four flags above.
    """
    if type(flags) is bool or not isinstance(flags, int) or flags < 0 or flags & ~_KNOWN_FLAGS:
        raise ValueError(
            f"flags must be an int made of ENet's PACKET_FLAG_RELIABLE (1), "
            f"PACKET_FLAG_UNSEQUENCED (2), PACKET_FLAG_NO_ALLOCATE (4) and "
            f"PACKET_FLAG_UNRELIABLE_FRAGMENT (8), not {flags!r}"
        )
    if flags & PACKET_FLAG_RELIABLE:
        return Delivery.RELIABLE
    if flags & PACKET_FLAG_UNSEQUENCED:
        return Delivery.UNRELIABLE
    return Delivery.UNRELIABLE_SEQUENCED


class CloseCode(enum.IntEnum):
    """Why a connection ended.

    :attr:`Connection.close_code <pygnetic.connection.Connection.close_code>`
    holds one, and so does the ``code`` of a ``NET_DISCONNECTED`` event.
    """

    #: Closed on purpose by one side (``connection.disconnect()``).
    NORMAL = 0
    #: The client's messages, serializer or protocol version differ from the server's.
    REGISTRY_MISMATCH = 1
    #: The server already has ``conn_limit`` connections.
    SERVER_FULL = 2
    #: The server is shutting down.
    SERVER_CLOSING = 3
    #: The peer sent bytes that are not a valid message.
    PROTOCOL_ERROR = 4
    #: The peer sent a message over the receiver's ``max_message_size``.
    MESSAGE_TOO_LARGE = 5
    #: Nothing was heard from the peer within the connection timeout.
    TIMEOUT = 6
    #: The transport failed (connection refused, reset, or lost).
    TRANSPORT_ERROR = 7
    #: The peer reads too slowly, so the send buffer limit was exceeded.
    SEND_BUFFER_FULL = 8
    #: The peer sent faster than the receiver's ``rate_limit`` or ``receive_budget`` allows.
    RATE_LIMITED = 9
    #: The server's ``authenticate`` turned the client away (a wrong password, say).
    REFUSED = 10
    #: A reconnecting client's session is unknown to the server: it waited no
    #: longer (its grace period passed) or it restarted. Connect anew.
    SESSION_EXPIRED = 11

    @property
    def description(self) -> str:
        """A sentence that says what the code means, for logs and UIs."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    CloseCode.NORMAL: "disconnected",
    CloseCode.REGISTRY_MISMATCH: (
        "message registry differs from the server's (register the same messages, "
        "in the same order, with the same serializer and pygnetic version)"
    ),
    CloseCode.SERVER_FULL: "server is full",
    CloseCode.SERVER_CLOSING: "server is shutting down",
    CloseCode.PROTOCOL_ERROR: "malformed data",
    CloseCode.MESSAGE_TOO_LARGE: "message too large",
    CloseCode.TIMEOUT: "timed out",
    CloseCode.TRANSPORT_ERROR: "connection lost",
    CloseCode.SEND_BUFFER_FULL: "peer too slow (send buffer full)",
    CloseCode.RATE_LIMITED: "sent too fast (rate limit)",
    CloseCode.REFUSED: "refused by the server",
    CloseCode.SESSION_EXPIRED: "session expired (the server no longer waits for it)",
}


def close_code(value: int) -> CloseCode:
    """Map a code received from the network to a :class:`CloseCode`.

    Unknown values (a newer peer) read as :attr:`CloseCode.NORMAL` rather than fail.
    """
    try:
        return CloseCode(value)
    except ValueError:
        return CloseCode.NORMAL


def as_delivery(value: Delivery | str) -> Delivery:
    """Return ``value`` as a :class:`Delivery`, with an error that lists the choices."""
    try:
        return Delivery(value)
    except ValueError:
        choices = ", ".join(repr(d.value) for d in Delivery)
        raise ValueError(f"delivery must be one of {choices}, not {value!r}") from None
