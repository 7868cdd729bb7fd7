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

Fields may hold pygame's Vector2, Vector3, Rect, FRect and Color, and types
registered with :meth:`MessageFactory.register_type` (see
:mod:`pygnetic.wire_types`).

Both peers must register the same messages in the same order with the same
serializer and wire types. :meth:`MessageFactory.registry_digest` condenses all of that into
16 bytes that the client sends in the handshake (:meth:`MessageFactory.get_hash`
is their first four as a number); a server with a different digest refuses
the connection with a reason the client can read.

The factory is frozen when the first connection uses it; registering after
that raises :class:`~pygnetic.errors.RegistryError`.
"""

from __future__ import annotations

import collections
import hashlib
import json
import keyword
import threading
from collections.abc import Callable, Iterable
from typing import Any

from . import _defaults, protocol
from ._decoding import brief, find_route
from ._sending import Sender, SendOptions, _with_options, check_send_options, make_sender
from .adapters.serialization import Serializer, StreamDecoder
from .errors import MessageArgumentsError, MessageError, RegistryError, RemoteMessageTooLargeError
from .protocol import Delivery
from .wire_types import GAME_CODES, WireType, WireTypes

__all__ = ["DEFAULT_MAX_MESSAGE_SIZE", "MessageFactory", "SendOptions", "message_factory"]

#: Default limit on one packed message, in bytes (4 MiB). Large enough for a
#: level or a save game, small enough that a hostile peer cannot exhaust memory.
DEFAULT_MAX_MESSAGE_SIZE = 4 * 1024 * 1024

_tuple_new = tuple.__new__
# Every message name registered in any factory, and who wants to hear of new
# ones (connection.py gives Connection a ``net_<name>`` attribute for each).
_names: set[str] = set()
_name_hooks: list[Callable[[str], None]] = []
_names_lock = threading.Lock()


def on_new_name(hook: Callable[[str], None]) -> None:
    """Call ``hook(name)`` for every message name registered so far and from now on."""
    with _names_lock:
        _name_hooks.append(hook)
        for name in _names:
            hook(name)


def _announce(name: str) -> None:
    with _names_lock:
        if name not in _names:
            _names.add(name)
            for hook in _name_hooks:
                hook(name)


# Message classes get extra attributes, which a static checker cannot follow
# through collections.namedtuple's special-casing.
_namedtuple: Any = collections.namedtuple


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


class MessageFactory:
    """A registry of message types, and their packing and unpacking.

    Args:
        s_adapter: The serializer: ``'msgpack'``, ``'json'``, or any object
            with the :class:`~pygnetic.adapters.serialization.Serializer`
            interface. ``None`` uses the one chosen by :func:`pygnetic.init`
            (msgpack unless told otherwise), decided when first needed.
        max_message_size: Largest packed message, in bytes, that this factory
            packs or accepts from the network.
        pygame_types: Whether pygame's Vector2, Vector3, Rect, FRect and Color
            travel as field values (see :mod:`pygnetic.wire_types`); part of
            the registry hash.

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
        pygame_types: bool = True,
    ) -> None:
        self._serializer: Serializer | None = (
            _defaults.serializer(s_adapter) if s_adapter is not None else None
        )
        self._explicit_serializer = s_adapter is not None
        self._wire_types = WireTypes(pygame_types)
        # The serializer with this factory's wire types, made when first needed.
        self._bound: Serializer | None = None
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
        self.Acked = _message_class("_acked", ("counts",), protocol.ACKED, control)
        for cls in (self.Ping, self.Pong, self.Close, self.Acked):
            self._add(cls)

    def _add(self, cls: type[Any]) -> None:
        self._by_type[cls._type_id] = cls
        self._routes[cls._type_id] = (cls, cls._arity)

    # -- configuration -------------------------------------------------------

    @property
    def serializer(self) -> Serializer:
        """The serializer in use, with this factory's wire types; fixed once frozen.

        It is the one given (or chosen by :func:`pygnetic.init`) when the
        factory has no wire types or that serializer cannot pack them, else
        the serializer's ``with_wire_types()`` of the factory's
        :attr:`wire_types`.
        """
        bound = self._bound
        if bound is None:
            if self._serializer is None:
                self._serializer = _defaults.serializer(None)
            bound = self._bound = self._with_wire_types(self._serializer)
        return bound

    def _with_wire_types(self, serializer: Serializer) -> Serializer:
        make = getattr(serializer, "with_wire_types", None)
        if make is None:
            if any(wire.code in GAME_CODES for wire in self._wire_types):
                raise RegistryError(
                    f"the {serializer.name} serializer has no with_wire_types(): "
                    "it cannot pack the types registered with register_type()"
                )
            return serializer
        if not len(self._wire_types):
            return serializer
        bound: Serializer = make(self._wire_types)
        return bound

    def _serializer_changed(self) -> None:
        self._bound = None
        self._local = threading.local()  # packers and encoders of the old serializer go

    @property
    def wire_types(self) -> WireTypes:
        """The types that travel as field values (see :meth:`register_type`)."""
        return self._wire_types

    @property
    def pygame_types(self) -> bool:
        """Whether pygame's types travel as field values; settable until frozen.

        True by default. Turned off, the factory packs and unpacks as pygnetic
        did without them (:mod:`pygnetic.wire_types` says what that means);
        peers must agree, as the registry hash includes it.
        """
        return self._wire_types.pygame_types

    @pygame_types.setter
    def pygame_types(self, value: bool) -> None:
        if self._frozen:
            raise RegistryError("pygame_types cannot change once the factory is frozen")
        self._wire_types.pygame_types = value
        self._serializer_changed()

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
            self._serializer_changed()

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
        _announce(name)
        return cls

    def register_type(
        self,
        cls: type,
        code: int,
        to_fields: Callable[[Any], Any] = tuple,
        from_fields: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
    ) -> WireType:
        """Let values of a class of your own travel as field values, as pygame's do.

        Args:
            cls: The class. Not a subclass of a type the serializers pack
                already (tuple, dict, int, str ...): those never reach it.
                Subclasses of ``cls`` travel as ``cls``.
            code: Its msgpack extension code, from 0 to 63
                (:data:`~pygnetic.wire_types.GAME_CODES`).
            to_fields: Takes a value, returns its fields: a tuple of at most
                64 ``None``, ``bool``, ``int``, ``float``, ``str`` or
                ``bytes`` values (bytes not with json). ``tuple`` by default,
                for a class whose iteration gives its fields.
            from_fields: Called with the fields as arguments, returns the
                value; ``cls`` itself by default. Whatever it raises for a
                peer's fields is that peer's
                :exc:`~pygnetic.errors.MessageError`.
            name: The name in the json form and the registry hash;
                ``cls.__name__`` by default.

        Returns:
            The :class:`~pygnetic.wire_types.WireType` made.

        Raises:
            RegistryError: The factory is frozen, the class, code or name is
                taken or invalid, or the serializer cannot pack wire types.

        Both peers must register the same types with the same codes and
        names: the registry hash includes them. A value of one cannot be a
        dict key (receivers refuse it, as any key but str, bytes, int,
        float, bool and None). Example::

            factory.register_type(Card, 1, to_fields=lambda c: (c.suit, c.rank))
        """
        if self._frozen:
            raise RegistryError(
                f"cannot register the wire type {cls!r}: the message factory is frozen "
                "because a connection already uses it; register every type before connecting"
            )
        if self._serializer is not None and not hasattr(self._serializer, "with_wire_types"):
            raise RegistryError(
                f"the {self._serializer.name} serializer has no with_wire_types(): "
                "it cannot pack types registered with register_type()"
            )
        wire = self._wire_types.register(cls, code, to_fields, from_fields, name=name)
        self._serializer_changed()
        return wire

    def set_frozen(self) -> None:
        """Forbid further registration; called when a connection starts using the factory."""
        if not self._frozen:
            self.registry_digest()
            self._frozen = True
            self._wire_types.freeze()
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

        It covers the pygnetic protocol version, the serializer's name,
        every message's type id, name and fields, in order, and the wire
        types the serializer packs (code, name and payload format of each, in
        code order; nothing when there are none), through SHA-256,
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
        serializer = self.serializer
        registry = [[cls._type_id, name, list(cls._fields)] for name, cls in self._by_name.items()]
        parts: list[Any] = [protocol.PROTOCOL_VERSION, serializer.name, registry]
        wire_types = getattr(serializer, "wire_types", None)
        if isinstance(wire_types, WireTypes) and len(wire_types):
            parts.append(wire_types.digest_items())
        canonical = json.dumps(parts, separators=(",", ":"))
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


#: The default factory, used by :func:`pygnetic.register` and by every
#: connection that is not given another.
message_factory = MessageFactory()
