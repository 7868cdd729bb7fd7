"""Exceptions raised by pygnetic, and whose fault each one is.

Every exception pygnetic raises on purpose derives from :class:`PygneticError`.
The tree splits on who has to act::

    PygneticError
    ├── LocalError                 you used the API in a way it does not support
    │   ├── RegistryError          (ValueError) bad or late message registration
    │   ├── MessageArgumentsError  (TypeError) wrong fields for a message
    │   ├── PackError              (TypeError) a field value cannot be serialized
    │   ├── MessageTooLargeError   (ValueError) a message over max_message_size
    │   │   └── replication.StateTooLargeError  a replicated state or delta over it
    │   ├── AdapterUnavailableError (ImportError) optional library not installed
    │   ├── EventsError            (RuntimeError) pygame events used before pygame.init()
    │   ├── syncobject.ReplicaReadOnlyError (AttributeError) a replica's sync_var assigned
    │   └── discovery.ServerInfoError (ValueError) a server description over a limit
    ├── RemoteError                the peer sent something pygnetic refuses
    │   ├── MessageError           (ValueError) bytes that are not a valid message
    │   │   ├── RemoteMessageTooLargeError
    │   │   └── replication.DeltaError  a state message that is not a well-formed state
    │   └── handshake.HandshakeError (ValueError) a handshake frame that is not valid
    ├── Refused                    raised by a server's ``authenticate`` to turn a client away
    ├── discovery.LobbyError       the lobby refused a request or could not be reached
    └── request.RequestError       a request got no usable answer
        ├── request.RequestRefused the peer refused it, with a reason and maybe a code
        ├── request.RequestTimeout (TimeoutError) no answer before its deadline
        └── request.RequestAborted the connection closed before the answer

Each class also derives from the built-in exception in brackets, so
``except TypeError`` keeps working for code that does not know pygnetic.

Remote errors never escape :meth:`Server.update() <pygnetic.server.Server.update>`
or :meth:`Client.update() <pygnetic.client.Client.update>`: the offending
connection is closed with the error's text as its reason, a warning is logged,
and every other connection carries on. You only meet :class:`MessageError`
directly when you call :meth:`MessageFactory.unpack()
<pygnetic.message.MessageFactory.unpack>` yourself.
"""

from __future__ import annotations

__all__ = [
    "AdapterUnavailableError",
    "EventsError",
    "LocalError",
    "MessageArgumentsError",
    "MessageError",
    "MessageTooLargeError",
    "PackError",
    "PygneticError",
    "PygneticWarning",
    "Refused",
    "RegistryError",
    "RemoteError",
    "RemoteMessageTooLargeError",
]


class PygneticError(Exception):
    """Root of every exception pygnetic raises on purpose."""


class LocalError(PygneticError):
    """The calling code misused the API; fix the call."""


class RemoteError(PygneticError):
    """The remote peer misbehaved; its connection is closed."""


class RegistryError(LocalError, ValueError):
    """A message cannot be registered: bad name or fields, a duplicate, or too late.

    Registration must happen before the first connection uses the factory,
    because both sides derive message ids from the registration order.
    """


class MessageArgumentsError(LocalError, TypeError):
    """A message was built or sent with fields that do not match its registration."""


class PackError(LocalError, TypeError):
    """A field value cannot be represented by the serializer (a ``set`` in msgpack, say)."""


class MessageTooLargeError(LocalError, ValueError):
    """A message packs to more bytes than the factory's ``max_message_size``."""


class AdapterUnavailableError(LocalError, ImportError):
    """An optional library behind an adapter is not installed.

    The message names the ``pip install`` command that fixes it.
    """


class EventsError(LocalError, RuntimeError):
    """pygame events were requested but pygame is missing or not initialised."""


class MessageError(RemoteError, ValueError):
    """Bytes received from the network are not a valid message.

    Raised for undecodable data, an unknown message type id, a wrong number of
    fields, or a message over the size limit. ``str(error)`` is the reason the
    connection was closed with.
    """


class RemoteMessageTooLargeError(MessageError):
    """The peer sent a message larger than ``max_message_size``."""


class Refused(PygneticError):
    """Raise it from a server's ``authenticate`` callable to turn a client away.

    ``Refused('wrong password')``: the client's connection ends with
    :attr:`CloseCode.REFUSED <pygnetic.protocol.CloseCode.REFUSED>`, and
    ``reason`` is what it reads as ``close_reason``, in ``on_disconnect`` and
    in the ``NET_DISCONNECTED`` event (at most
    :data:`~pygnetic.protocol.MAX_REASON_LENGTH` characters of it).
    """

    def __init__(self, reason: str = "refused by the server") -> None:
        super().__init__(reason)
        #: What the client is told.
        self.reason = str(reason)


class PygneticWarning(UserWarning):
    """Something legal but almost certainly a mistake, e.g. a ``net_`` method for no message."""
