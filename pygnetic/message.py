"""Messages: declare them once, then pack and unpack them compactly.

A message type is a :func:`~collections.namedtuple` class made by
:meth:`MessageFactory.register`. Its *type id* is its registration order in
that factory (0, 1, 2, ...), and it travels as the serializer's array
``[type_id, *fields]``, so no field names or type names go over the wire::

    >>> from pygnetic.message import MessageFactory
    >>> factory = MessageFactory('msgpack')
    >>> chat_msg = factory.register('chat_msg', ('player', 'msg'))
    >>> data = factory.pack(chat_msg('Tom', 'Test message'))
    >>> len(data)
    19
    >>> factory.unpack(data)
    chat_msg(player='Tom', msg='Test message')

Both peers must register the same messages in the same order with the same
serializer. :meth:`MessageFactory.get_hash` condenses all of that into one
number that the client sends when connecting; a server with a different hash
refuses the connection with a reason the client can read.

The factory is frozen when the first connection uses it; registering after
that raises :class:`~pygnetic.errors.RegistryError`.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import json
import keyword
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, TypeVar

from . import _defaults, protocol
from .adapters.serialization import Serializer, StreamDecoder
from .errors import (
    MessageArgumentsError,
    MessageError,
    MessageTooLargeError,
    PackError,
    RegistryError,
    RemoteMessageTooLargeError,
)
from .protocol import Delivery, as_delivery, delivery_from_flags

__all__ = ["DEFAULT_MAX_MESSAGE_SIZE", "MessageFactory", "SendOptions", "message_factory"]

#: Default limit on one packed message, in bytes (4 MiB). Large enough for a
#: level or a save game, small enough that a hostile peer cannot exhaust memory.
DEFAULT_MAX_MESSAGE_SIZE = 4 * 1024 * 1024

# Exceptions serializers raise for values they cannot represent.
PACK_ERRORS = (TypeError, ValueError, OverflowError)

_tuple_new = tuple.__new__
#: A send function: ``net_<name>(*fields, **options)``.
Sender = Callable[..., Any]
#: Where a sender hands the packed bytes: ``(data, channel, delivery, type_id)``.
Transmit = Callable[[bytes, int, Delivery, int], Any]
_Route = TypeVar("_Route", bound=tuple[Any, ...])
# Message classes get extra attributes, which a static checker cannot follow
# through collections.namedtuple's special-casing.
_namedtuple: Any = collections.namedtuple


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
) -> Sender:
    """Build the function that checks, packs and hands on one message type's fields.

    The one place where field values become bytes: every
    ``connection.net_<name>()`` is one of these, and so is
    :meth:`MessageFactory.encode`. It returns what ``transmit(data, channel,
    delivery, type_id)`` returns. Runs once per sent message: keep it lean.

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
        return transmit(data, channel, delivery, type_id)

    return sender


def _with_options(data: bytes, channel: int, delivery: Delivery, type_id: int) -> Any:
    """Transmit of the factory's own encoders: keep the bytes and their send options."""
    return data, SendOptions(channel, delivery)


def _field_names(name: str, field_names: str | Iterable[str]) -> tuple[str, ...]:
    if isinstance(field_names, str):
        field_names = field_names.replace(",", " ").split()
    fields = tuple(field_names)
    for field in fields:
        if not isinstance(field, str) or not field.isidentifier():
            raise RegistryError(f"{name}: field name {field!r} is not a Python identifier")
        if keyword.iskeyword(field) or field.startswith("_"):
            raise RegistryError(
                f"{name}: field name {field!r} is a keyword or starts with an underscore"
            )
    duplicates = {f for f in fields if fields.count(f) > 1}
    if duplicates:
        raise RegistryError(f"{name}: duplicate field name(s) {', '.join(sorted(duplicates))}")
    return fields


def _message_class(
    name: str, fields: tuple[str, ...], type_id: int, options: SendOptions
) -> type[tuple[Any, ...]]:
    cls: Any = _namedtuple(name, fields)
    cls.__doc__ = f"Message {name}({', '.join(fields)}), type id {type_id}."
    cls._type_id = type_id
    cls._send_options = options
    cls._register_kwargs = {}  # the keyword arguments register() was given
    cls._arity = len(fields) + 1  # length of the packed array
    return cls  # type: ignore[no-any-return]


def find_route(routes: Mapping[int, _Route], raw: Any) -> _Route | None:
    """Return the entry of ``routes`` for a decoded ``[type_id, *fields]`` array, or None.

    The one check of what a peer sent, used by :meth:`MessageFactory.from_raw`
    and by every :class:`~pygnetic.connection.Connection`. ``raw`` matches when
    it is a ``list`` whose first item is an ``int`` keying ``routes`` and whose
    length is the entry's second item. A ``bool`` or a ``float`` is never a type
    id, although ``False == 0.0 == 0`` for a dict.

    Args:
        routes: Type id to a tuple ``(message class, packed array length, ...)``;
            the items after those two are the caller's.
        raw: What the serializer decoded.
    """
    try:
        route = routes[type_id := raw[0]]
    except (KeyError, IndexError, TypeError):
        return None
    if type(type_id) is int and type(raw) is list and len(raw) == route[1]:
        return route
    return None


def brief(value: Any, limit: int = 60) -> str:
    """Return a short ``repr``-like text of ``value`` received from a peer, for a reason.

    At most ``limit`` characters, containers shown two levels deep and four
    items wide, whatever the size or depth of ``value``; it never calls the
    ``repr`` of a type other than the built-in scalars.
    """
    text = _brief(value, 2, limit)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def remote_text(value: Any, limit: int = 500) -> str:
    """Return a text a peer sent as a printable str of at most ``limit`` characters.

    A value that is not a ``str`` gives ``''``: a reason from the network is
    kept, logged and shown only as short, single-line text.
    """
    if type(value) is not str:
        return ""
    text = value[:limit]
    if not text.isprintable():
        text = "".join(char if char.isprintable() else "?" for char in text)
    return text


_BRACKETS: dict[type, str] = {list: "[]", tuple: "()", dict: "{}"}


def _brief(value: Any, depth: int, limit: int) -> str:
    kind = type(value)
    if kind in (str, bytes):
        return repr(value[:limit])
    if kind is int:
        return repr(value) if value.bit_length() <= 128 else f"<int of {value.bit_length()} bits>"
    if kind in (float, bool) or value is None:
        return repr(value)
    brackets = _BRACKETS.get(kind)
    if brackets is None:
        return f"<{kind.__name__}>"
    if not value:
        return brackets
    if depth == 0:
        return f"{brackets[0]}...{brackets[1]}"
    if kind is dict:
        shown = [
            f"{_brief(k, depth - 1, limit)}: {_brief(v, depth - 1, limit)}"
            for k, v in itertools.islice(value.items(), 4)
        ]
    else:
        shown = [_brief(item, depth - 1, limit) for item in itertools.islice(value, 4)]
    more = ", ..." if len(value) > 4 else ""
    return f"{brackets[0]}{', '.join(shown)}{more}{brackets[1]}"


class MessageFactory:
    """A registry of message types, and their packing and unpacking.

    Args:
        s_adapter: The serializer: ``'msgpack'``, ``'json'``, or any object
            with the :class:`~pygnetic.adapters.serialization.Serializer`
            interface. ``None`` uses the one chosen by :func:`pygnetic.init`
            (msgpack unless told otherwise), decided when first needed.
        max_message_size: Largest packed message, in bytes, that this factory
            packs or accepts from the network.

    Create more factories when different connections speak different sets of
    messages; each numbers its messages from 0. Register every message
    before connecting. Then one factory may serve hosts in several threads
    (one host per thread): each thread packs with its own packer (see
    :meth:`packer`).
    """

    def __init__(
        self,
        s_adapter: Serializer | str | None = None,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        self._serializer: Serializer | None = (
            _defaults.serializer(s_adapter) if s_adapter is not None else None
        )
        self._explicit_serializer = s_adapter is not None
        self._by_name: dict[str, type[Any]] = {}
        self._by_type: dict[int, type[Any]] = {}
        # What from_raw() looks up through find_route(): (class, packed array length).
        self._routes: dict[int, tuple[type[Any], int]] = {}
        self._frozen = False
        self._hash: int | None = None
        self._digest: bytes | None = None
        # This thread's .pack (from packer()) and .encoders (from _encoder()).
        self._local = threading.local()
        self.max_message_size = max_message_size
        self._register_control_messages()

    def _register_control_messages(self) -> None:
        control = SendOptions(0, Delivery.RELIABLE)
        self.Ping = _message_class("_ping", ("stamp",), protocol.PING, control)
        self.Pong = _message_class("_pong", ("stamp",), protocol.PONG, control)
        self.Close = _message_class("_close", ("code", "reason"), protocol.CLOSE, control)
        for cls in (self.Ping, self.Pong, self.Close):
            self._add(cls)

    def _add(self, cls: type[Any]) -> None:
        self._by_type[cls._type_id] = cls
        self._routes[cls._type_id] = (cls, cls._arity)

    # -- configuration -------------------------------------------------------

    @property
    def serializer(self) -> Serializer:
        """The serializer in use; fixed from the first time it is needed."""
        if self._serializer is None:
            self._serializer = _defaults.serializer(None)
        return self._serializer

    @property
    def max_message_size(self) -> int:
        """Largest packed message in bytes; settable until the factory is frozen."""
        return self._max_message_size

    @max_message_size.setter
    def max_message_size(self, value: int) -> None:
        if getattr(self, "_frozen", False):
            raise RegistryError("max_message_size cannot change once the factory is frozen")
        if type(value) is not int or value < 16:
            raise ValueError(f"max_message_size must be an int >= 16, not {value!r}")
        self._max_message_size = value
        self._local = threading.local()  # encoders hold the limit

    def use_default_serializer(self, serializer: Serializer) -> None:
        """Adopt ``serializer`` unless one was given explicitly or the factory is frozen.

        :func:`pygnetic.init` calls this on the default factory.
        """
        if not (self._explicit_serializer or self._frozen):
            self._serializer = serializer
            self._local = threading.local()  # packers and encoders of the old serializer go

    # -- registration --------------------------------------------------------

    def register(
        self, name: str, field_names: str | Iterable[str] = (), **send_options: Any
    ) -> type[Any]:
        """Register a message type and return its class (a namedtuple).

        Args:
            name: Unique message name; ``connection.net_<name>(...)`` sends it
                and ``Handler.net_<name>(message)`` receives it.
            field_names: The fields, as a sequence or a ``'a, b'`` string.
            **send_options: Defaults for sending this type: ``channel`` (int)
                and ``delivery`` (:class:`~pygnetic.protocol.Delivery` or its
                string value), or, in place of ``delivery``, pygnetic 1.0's
                ``flags`` (ENet's packet flags, see
                :func:`~pygnetic.protocol.delivery_from_flags`). Calls may
                override them. They are not part of the registry hash.

        Raises:
            RegistryError: The factory is frozen, the name is taken or not an
                identifier, or a field name is invalid.
            TypeError, ValueError: An unknown or invalid send option, or both
                ``delivery`` and ``flags``.

        Example::

            position = factory.register('position', ('x', 'y'),
                                        delivery='unreliable_sequenced', channel=1)
        """
        if self._frozen:
            raise RegistryError(
                f"cannot register {name!r}: the message factory is frozen because a "
                "connection already uses it; register every message before connecting"
            )
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise RegistryError(f"message name {name!r} is not a Python identifier")
        if name.startswith("_"):
            raise RegistryError(f"message name {name!r} must not start with an underscore")
        if name in self._by_name:
            raise RegistryError(f"message {name!r} is already registered")
        fields = _field_names(name, field_names)
        options = check_send_options(send_options, SendOptions())
        cls = _message_class(name, fields, len(self._by_name), options)
        cls._register_kwargs = dict(send_options)  # type: ignore[attr-defined]
        self._by_name[name] = cls
        self._add(cls)
        return cls

    def set_frozen(self) -> None:
        """Forbid further registration; called when a connection starts using the factory."""
        if not self._frozen:
            self.registry_digest()
            self._frozen = True
            self.get_hash()

    @property
    def frozen(self) -> bool:
        """True once no more messages may be registered."""
        return self._frozen

    # -- lookup --------------------------------------------------------------

    def get_by_name(self, name: str) -> type[Any]:
        """Return the message class registered as ``name``.

        Raises:
            KeyError: No message has that name.
        """
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no message named {name!r} is registered") from None

    def get_by_type(self, type_id: int) -> type[Any]:
        """Return the message class with type id ``type_id``.

        Raises:
            KeyError: No message has that id.
        """
        cls = self._by_type.get(type_id) if type(type_id) is int else None
        if cls is None:
            raise KeyError(f"no message has type id {type_id!r}")
        return cls

    def get_type_id(self, message: type[Any] | str) -> int:
        """Return the type id of a message class (or message name)."""
        return self._resolve(message)._type_id  # type: ignore[no-any-return]

    def get_params(self, message: type[Any] | str) -> tuple[int, dict[str, Any]]:
        """Return ``(type_id, kwargs)`` of a message class or name, as pygnetic 1.0 did.

        ``kwargs`` is a copy of the keyword arguments given to :meth:`register`,
        as given: after ``register('position', ('x', 'y'), channel=1)`` it is
        ``{'channel': 1}``. The field names are the class's ``_fields``.

        Raises:
            KeyError: ``message`` is not registered here.
        """
        cls = self._resolve(message)
        return cls._type_id, dict(cls._register_kwargs)

    def names(self) -> list[str]:
        """Return the registered message names in type-id order."""
        return list(self._by_name)

    def _resolve(self, message: type[Any] | str) -> type[Any]:
        cls = self._by_name.get(message) if isinstance(message, str) else message
        if cls is None or self._by_type.get(getattr(cls, "_type_id", None)) is not cls:  # type: ignore[arg-type]
            raise KeyError(f"{message!r} is not a message registered in this factory")
        return cls

    def get_hash(self) -> int:
        """Return a 32-bit digest of the registry, the same in every process.

        It covers the pygnetic protocol version, the serializer's name and
        every message's type id, name and fields, in order, through SHA-256,
        so it never depends on Python's per-process string hashing. It is
        the first four bytes of :meth:`registry_digest`, as an int.
        """
        if self._hash is None or not self._frozen:
            self._hash = int.from_bytes(self.registry_digest()[:4], "big")
        return self._hash

    def registry_digest(self) -> bytes:
        """Return the 16-byte registry digest that the handshake compares.

        See :meth:`get_hash`, which is its first four bytes.
        """
        if self._digest is not None and self._frozen:
            return self._digest
        registry = [[cls._type_id, name, list(cls._fields)] for name, cls in self._by_name.items()]
        canonical = json.dumps(
            [protocol.PROTOCOL_VERSION, self.serializer.name, registry], separators=(",", ":")
        )
        self._digest = hashlib.sha256(canonical.encode()).digest()[:16]
        return self._digest

    # -- packing -------------------------------------------------------------

    def pack(self, message: tuple[Any, ...]) -> bytes:
        """Pack a message instance into bytes.

        Raises:
            MessageArgumentsError: ``message`` is not an instance of a message
                class registered in this factory.
            PackError: A field value cannot be serialized.
            MessageTooLargeError: The result exceeds ``max_message_size``.
        """
        cls = type(message)
        if self._by_type.get(getattr(cls, "_type_id", None)) is not cls:  # type: ignore[arg-type]
            raise MessageArgumentsError(
                f"{message!r} is not an instance of a message registered in this factory"
            )
        return self.pack_fields(cls, tuple(message))

    def packer(self) -> Callable[[Any], bytes]:
        """Return the calling thread's function that packs a ``(type_id, *fields)`` tuple.

        Each thread gets its own, made by the serializer's ``packer()`` on first
        use (or the serializer's ``pack`` if it has no ``packer()``), so that no
        stateful encoder, such as msgpack's ``Packer``, is used by two threads
        at once. A :class:`~pygnetic.connection.Connection` takes the one of the
        thread that makes it: run a host, from ``connect()`` on, in one thread.
        """
        try:
            pack: Callable[[Any], bytes] = self._local.pack
        except AttributeError:
            serializer = self.serializer
            make = getattr(serializer, "packer", None)
            pack = self._local.pack = make() if make is not None else serializer.pack
        return pack

    def pack_fields(self, cls: type[Any], fields: tuple[Any, ...]) -> bytes:
        """Pack the field values of message class ``cls`` without building an instance."""
        data: bytes = self._encoder(cls)(*fields)[0]
        return data

    def _encoder(self, cls: type[Any]) -> Sender:
        """This thread's encoder of ``cls`` messages (packers are per thread)."""
        try:
            encoders: dict[type[Any], Sender] = self._local.encoders
        except AttributeError:
            encoders = self._local.encoders = {}
        encoder = encoders.get(cls)
        if encoder is None:
            pack, limit = self.packer(), self._max_message_size
            encoder = encoders[cls] = make_sender(cls, pack, limit, _with_options)
        return encoder

    def encode(
        self,
        message: type[Any] | str | tuple[Any, ...],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> tuple[bytes, SendOptions]:
        """Pack what ``connection.send(message, *args, **kwargs)`` would send.

        Returns the bytes and the :class:`SendOptions` for them, for
        :meth:`Connection.send_encoded()
        <pygnetic.connection.Connection.send_encoded>`, which sends bytes
        packed once to many connections.

        Raises:
            KeyError: ``message`` is not registered here.
            MessageArgumentsError, PackError, MessageTooLargeError: as ``send``.
        """
        if isinstance(message, tuple):
            args = (*message, *args)
            message = type(message)
        result: tuple[bytes, SendOptions] = self._encoder(self._resolve(message))(
            *args, **(kwargs or {})
        )
        return result

    def unpack(self, data: bytes) -> tuple[Any, ...]:
        """Unpack one whole message from ``data``.

        Raises:
            MessageError: ``data`` is not one valid message of this registry
                (undecodable, unknown type id, wrong number of fields, or
                larger than ``max_message_size``).
        """
        if len(data) > self._max_message_size:
            raise RemoteMessageTooLargeError(
                f"message of {len(data)} bytes exceeds the "
                f"{self._max_message_size} byte limit (max_message_size)"
            )
        return self.from_raw(self.serializer.unpack(data))

    def from_raw(self, raw: Any) -> tuple[Any, ...]:
        """Build a message from a decoded ``[type_id, *fields]`` array.

        Raises:
            MessageError: ``raw`` is not a valid message of this registry.
        """
        route = find_route(self._routes, raw)
        if route is None:
            raise MessageError(self.describe_invalid(raw))
        return _tuple_new(route[0], raw[1:])  # type: ignore[no-any-return]

    def describe_invalid(self, raw: Any) -> str:
        """Say why a decoded value ``raw`` is not a message of this registry.

        The text stays short whatever ``raw`` holds (see :func:`brief`).
        """
        if type(raw) is not list or not raw:
            return f"expected an array [type_id, *fields], got {type(raw).__name__}"
        type_id = raw[0]
        if type(type_id) is not int:
            return f"message type id must be an int, got {type(type_id).__name__} {brief(type_id)}"
        cls = self._by_type.get(type_id)
        if cls is None:
            return f"unknown message type id {brief(type_id)}"
        return (
            f"message {cls.__name__} has {cls._arity - 1} field(s) "
            f"({', '.join(cls._fields)}), got {len(raw) - 1}"
        )

    # -- streams -------------------------------------------------------------

    def new_stream(self) -> StreamDecoder:
        """Return a fresh stream decoder bound to this factory's serializer and limit."""
        return self.serializer.stream(self._max_message_size)

    def reset_context(self, context: Any) -> None:
        """Prepare ``context`` (any object with attributes) for :meth:`unpack_all`.

        The stream state lives on the context, so one factory can decode many
        connections' streams at once. Call it again to discard partial data.
        """
        context._pygnetic_stream = self.new_stream()

    def unpack_all(self, data: bytes, context: Any) -> list[tuple[Any, ...]]:
        """Feed a slice of a byte stream and return the messages it completes.

        Partial data stays in ``context`` until the rest arrives. ``context``
        must first go through :meth:`reset_context`.

        Raises:
            MessageError: The stream is corrupt; the context must be reset
                before it is used again.
        """
        raws: list[Any] = []
        context._pygnetic_stream.feed(data, raws)
        return [self.from_raw(raw) for raw in raws]


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


#: The default factory, used by :func:`pygnetic.register` and by every
#: connection that is not given another.
message_factory = MessageFactory()
