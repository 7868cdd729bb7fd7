"""The send side of :mod:`pygnetic.message`: send options, and the function that packs.

:func:`make_sender` builds the function behind every ``connection.net_<name>()``
and :meth:`MessageFactory.encode() <pygnetic.message.MessageFactory.encode>`.
Import :class:`SendOptions` from :mod:`pygnetic.message`, which re-exports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from .errors import MessageArgumentsError, MessageTooLargeError, PackError
from .protocol import Delivery, as_delivery, delivery_from_flags

__all__ = [
    "PACK_ERRORS",
    "NetSender",
    "SendOptions",
    "Sender",
    "Transmit",
    "add_sender_attribute",
    "arguments_error",
    "check_send_options",
    "make_sender",
    "merge_send_arguments",
    "pack_error",
    "too_large",
]

# Exceptions serializers raise for values they cannot represent.
PACK_ERRORS = (TypeError, ValueError, OverflowError)

#: A send function: ``net_<name>(*fields, **options)``.
Sender = Callable[..., Any]
#: Where a sender hands the packed bytes: ``(data, channel, delivery, type_id)``.
Transmit = Callable[[bytes, int, Delivery, int], Any]


class SendOptions(NamedTuple):
    """How a message type is sent unless a call says otherwise."""

    #: ENet channel number (ignored by TCP, which has one ordered stream).
    channel: int = 0
    #: Delivery mode; see :class:`~pygnetic.protocol.Delivery`.
    delivery: Delivery = Delivery.RELIABLE


#: Send options a call or ``register()`` may give; ``flags`` (ENet's packet
#: flags, as in pygnetic 1.0) is another way of giving ``delivery``.
_OPTION_NAMES = ("channel", "delivery", "flags")


def check_send_options(options: dict[str, Any], base: SendOptions) -> SendOptions:
    """Validate send options given as keywords and merge them over ``base``.

    Raises:
        TypeError: An unknown option, or both ``delivery`` and ``flags``.
        ValueError: An invalid value.
    """
    unknown = set(options).difference(_OPTION_NAMES)
    if unknown:
        raise TypeError(
            f"unknown send option(s) {', '.join(sorted(unknown))}; "
            f"valid ones: {', '.join(_OPTION_NAMES)}"
        )
    channel = options.get("channel", base.channel)
    if type(channel) is not int or channel < 0:
        raise ValueError(f"channel must be an int >= 0, not {channel!r}")
    if "flags" in options:
        if "delivery" in options:
            raise TypeError(
                "give delivery or flags (ENet's packet flags, as in pygnetic 1.0), not both"
            )
        return SendOptions(channel, delivery_from_flags(options["flags"]))
    delivery = as_delivery(options.get("delivery", base.delivery))
    return SendOptions(channel, delivery)


def merge_send_arguments(
    cls: type[Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], SendOptions]:
    """Split a send call's keywords into field values and send options.

    Keywords naming a field of ``cls`` are field values, appended to ``args``
    in field order; the others are send options, merged over the type's own.

    Raises:
        MessageArgumentsError: A field is given twice or fields are missing.
        TypeError, ValueError: An unknown or invalid send option.
    """
    fields: tuple[str, ...] = cls._fields
    named = {k: v for k, v in kwargs.items() if k in fields}
    options = check_send_options(
        {k: v for k, v in kwargs.items() if k not in fields}, cls._send_options
    )
    if named:
        if len(args) + len(named) != len(fields) or any(f in named for f in fields[: len(args)]):
            raise arguments_error(cls, args, named)
        args = (*args, *(named[f] for f in fields[len(args) :]))
    return args, options


def make_sender(
    cls: type[Any],
    pack: Callable[[Any], bytes],
    limit: int,
    transmit: Transmit,
    check_channel: Callable[[int], None] | None = None,
    owner: Any = None,
    open_state: Any = None,
) -> Sender:
    """Build the function that checks, packs and hands on one message type's fields.

    The one place where field values become bytes: every
    ``connection.net_<name>()`` is one of these, and so is
    :meth:`MessageFactory.encode`. It returns what ``transmit(data, channel,
    delivery, type_id)`` returns. Runs once per sent message: keep it lean.

    With an ``owner`` (the :class:`~pygnetic.connection.Connection`) and the
    state it is in while open, a message goes straight to the link while the
    owner is in ``open_state`` and has a ``_direct_send`` (the link's
    ``send``, unset while a session keeps what is sent), or for a sequenced
    message its ``_direct_latest`` (the link's ``send_latest``, if it has
    one), counted as ``transmit`` counts it: one call fewer on the path of
    nearly every message.

    Raises (from the sender):
        MessageArgumentsError: Fields missing, extra or unknown.
        PackError: A field value cannot be serialized.
        MessageTooLargeError: The message packs to more than ``limit`` bytes.
        TypeError, ValueError: An unknown or invalid send option.
    """
    type_id: int = cls._type_id
    prefix = (type_id,)
    field_count: int = cls._arity - 1
    default_channel, default_delivery = cls._send_options
    if owner is None:
        owner = _NO_OWNER

    def sender(*args: Any, **kwargs: Any) -> Any:
        if kwargs:
            args, (channel, delivery) = merge_send_arguments(cls, args, kwargs)
            if check_channel is not None:
                check_channel(channel)
        else:
            channel, delivery = default_channel, default_delivery
        if len(args) != field_count:
            raise arguments_error(cls, args, kwargs)
        try:
            data = pack(prefix + args)  # (type_id, *fields), without a list in between
        except PACK_ERRORS as exc:
            raise pack_error(cls, exc) from exc
        if len(data) > limit:
            raise too_large(cls, len(data), limit)
        send = owner._direct_send
        if send is not None and owner._state is open_state:  # transmit()'s usual case
            if delivery is _SEQUENCED:
                latest = owner._direct_latest
                if latest is not None:  # it may replace a stale copy that waits
                    replaced = latest(data, channel, type_id)
                    owner.messages_sent += not replaced
                    owner.data_sent += len(data) - replaced
                    return True
            send(data, channel, delivery)
            owner.messages_sent += 1
            owner.data_sent += len(data)
            return True
        return transmit(data, channel, delivery, type_id)

    return sender


class _NoOwner:
    """The owner of senders without a connection: everything goes to ``transmit``."""

    _direct_send = None


_NO_OWNER = _NoOwner()


_SEQUENCED = Delivery.UNRELIABLE_SEQUENCED


def _with_options(data: bytes, channel: int, delivery: Delivery, type_id: int) -> Any:
    """Transmit of the factory's own encoders: keep the bytes and their send options."""
    return data, SendOptions(channel, delivery)


def pack_error(cls: type[Any], exc: Exception) -> PackError:
    """Return the error for field values of ``cls`` that the serializer refused."""
    return PackError(f"cannot pack {cls.__name__}({', '.join(cls._fields)}): {exc}")


def too_large(cls: type[Any], size: int, limit: int) -> MessageTooLargeError:
    """Return the error for a ``cls`` message that packed to more than ``limit`` bytes."""
    return MessageTooLargeError(
        f"{cls.__name__} packs to {size} bytes, over the {limit} byte limit "
        "(raise MessageFactory(max_message_size=...) on both sides to allow it)"
    )


def arguments_error(cls: type[Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> TypeError:
    """Return the error for building ``cls`` from the wrong arguments."""
    given = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
    return MessageArgumentsError(
        f"{cls.__name__} takes {cls._arity - 1} field(s) ({', '.join(cls._fields)}), got ({given})"
    )


class NetSender:
    """``Connection.net_<name>``: the connection's sender of message ``name``.

    Built on first use and kept in the connection's ``__dict__``, which then
    shadows this (non-data) descriptor. Connection has no ``__getattr__``
    instead: CPython does not specialize attribute access on a class that
    has one, which would slow every ``self._x`` on the send and receive paths.
    """

    __slots__ = ("attribute", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.attribute = f"net_{name}"

    def __get__(self, connection: Any, owner: type[Any] | None = None) -> Any:
        if connection is None:
            return self
        factory = connection.message_factory
        try:
            cls = factory.get_by_name(self.name)
        except KeyError:
            known = ", ".join(factory.names()) or "none"
            raise AttributeError(
                f"no message named {self.name!r} is registered in this connection's "
                f"factory, so Connection has no {self.attribute}() (registered: {known})"
            ) from None
        sender = connection.__dict__[self.attribute] = connection._sender(cls)
        return sender


def add_sender_attribute(owner: type[Any], name: str) -> None:
    """Give class ``owner`` (Connection) a :class:`NetSender` ``net_<name>``, once."""
    if f"net_{name}" not in owner.__dict__:
        setattr(owner, f"net_{name}", NetSender(name))
