"""pygnetic: easy and fast networking for pygame games.

Declare compact messages once, send them with ``connection.net_<name>(...)``,
receive them in :class:`~pygnetic.handler.Handler` subclasses or as pygame events::

    import pygnetic

    pygnetic.init()
    chat_msg = pygnetic.register('chat_msg', ('player', 'msg'))

    class ChatHandler(pygnetic.Handler):
        def net_chat_msg(self, message, **kwargs):
            print(f'{message.player}: {message.msg}')

    server = pygnetic.Server(port=10000, handler=ChatHandler)
    while True:
        server.update(16)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from . import _defaults, event, message, wire_types
from .client import Client
from .connection import Connection, ConnectionState
from .errors import (
    AdapterUnavailableError,
    EventsError,
    LocalError,
    MessageArgumentsError,
    MessageError,
    MessageTooLargeError,
    PackError,
    PygneticError,
    PygneticWarning,
    Refused,
    RegistryError,
    RemoteError,
)
from .handler import Handler
from .limits import RateLimit, ReceiveBudget
from .message import MessageFactory, message_factory
from .protocol import CloseCode, Delivery
from .request import (
    RequestAborted,
    Requester,
    RequestError,
    RequestRefused,
    RequestTimeout,
    RequestTypes,
)
from .server import Server

__version__ = "2.0.0.dev0"

__all__ = [
    "AdapterUnavailableError",
    "Client",
    "CloseCode",
    "Connection",
    "ConnectionState",
    "Delivery",
    "EventsError",
    "Handler",
    "LocalError",
    "MessageArgumentsError",
    "MessageError",
    "MessageFactory",
    "MessageTooLargeError",
    "PackError",
    "PygneticError",
    "PygneticWarning",
    "RateLimit",
    "ReceiveBudget",
    "Refused",
    "RegistryError",
    "RemoteError",
    "RequestAborted",
    "RequestError",
    "RequestRefused",
    "RequestTimeout",
    "RequestTypes",
    "Requester",
    "Server",
    "__version__",
    "init",
    "message_factory",
    "register",
    "register_type",
]

_LOG_FORMAT = "%(asctime)s %(levelname)-8s %(message)s"


def init(
    events: bool = False,
    event_val: int | None = None,
    logging_lvl: int | None = logging.INFO,
    n_module: str | Sequence[str] = _defaults.NETWORK_PREFERENCE,
    s_module: str | Sequence[str] = _defaults.SERIALIZER_PREFERENCE,
) -> bool:
    """Choose adapters, set up logging and, optionally, pygame events.

    Call it once at start-up, after ``pygame.init()`` if you want events.
    Without it pygnetic still works, with the default adapters and no events.

    Args:
        events: Post network events to pygame's queue (see :mod:`pygnetic.event`).
        event_val: Event type choice, passed to :func:`pygnetic.event.init`.
        logging_lvl: Logging level. If the root logger has no handler yet, it
            gets this level and one handler printing to stderr, as
            :func:`logging.basicConfig` would give it, so the program's own
            ``logging.info()`` lines show too, as in pygnetic 1.0. The
            ``'pygnetic'`` logger gets the level in any case, and no handler
            of its own, so no line is printed twice. None leaves logging
            alone.
        n_module: Network adapter name, or names in order of preference.
            Every one of them that can be loaded is used: a server listens on
            all of them at once, on one port number, and a client tries them
            in this order (ENet, then TCP, by default). One that cannot be
            loaded (ENet without pyenet) is left out with one warning that
            says what that means and how to install it.
        s_module: Serializer name, or names in order of preference.

    Returns:
        True if a network adapter and a serializer were found, else False
        (the reason is logged).

    Raises:
        EventsError: ``events`` is true but pygame is not initialised.
        AdapterUnavailableError: ``events`` is true but pygame is not installed.
    """
    log = logging.getLogger("pygnetic")
    if logging_lvl is not None:
        _configure_logging(logging_lvl)
    try:
        networks, missing = _defaults.available_networks(_defaults.names(n_module))
        serializer = _defaults.first_serializer(_defaults.names(s_module))
    except AdapterUnavailableError as exc:
        log.error("%s", exc)
        return False
    _defaults.choose("networks", networks)
    _defaults.choose("missing", missing)
    _defaults.choose("serializer", serializer)
    message_factory.use_default_serializer(serializer)
    _defaults.report_networks(networks, missing)
    if events:
        event.init(event_val)
    return True


def _configure_logging(level: int) -> None:
    root = logging.getLogger()
    if not root.handlers:  # what logging.basicConfig() does, which 1.0 called
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(_LOG_FORMAT, "%H:%M:%S"))
        root.addHandler(handler)
        root.setLevel(level)
    logging.getLogger("pygnetic").setLevel(level)


def register(name: str, field_names: str | Iterable[str] = (), **send_options: Any) -> type[Any]:
    """Register a message in the default :data:`~pygnetic.message.message_factory`.

    See :meth:`MessageFactory.register() <pygnetic.message.MessageFactory.register>`.
    """
    return message.message_factory.register(name, field_names, **send_options)


def register_type(
    cls: type,
    code: int,
    to_fields: Callable[[Any], Any] = tuple,
    from_fields: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
) -> wire_types.WireType:
    """Register a wire type in the default :data:`~pygnetic.message.message_factory`.

    See :meth:`MessageFactory.register_type() <pygnetic.message.MessageFactory.register_type>`.
    """
    return message.message_factory.register_type(cls, code, to_fields, from_fields, name=name)
