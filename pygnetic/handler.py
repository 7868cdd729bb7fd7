"""Handlers: receive messages as method calls named after them.

Subclass :class:`Handler` and define ``net_<message name>`` methods::

    class ChatHandler(pygnetic.Handler):
        def net_chat_msg(self, message, **kwargs):
            print(f'{message.player}: {message.msg}')

        def on_disconnect(self):
            print('bye', self.connection.close_reason)

A server creates one handler per accepted connection from the ``handler``
class it was given; on a client, attach one with
:meth:`Connection.add_handler() <pygnetic.connection.Connection.add_handler>`.

Methods are looked up once, when the handler is attached, not per message.
At that moment a ``net_`` method whose name matches no registered message is
reported with a :class:`~pygnetic.errors.PygneticWarning` (a typo would
otherwise fail silently), and a method that cannot take the message as its
first argument raises ``TypeError`` naming its file and line.

A method with ``**kwargs`` (``def net_move(self, message, **kwargs)``, the
1.0 signature) or a ``channel`` parameter (``def net_move(self, message,
channel)``) receives the network adapter's keyword arguments: ``channel``,
the channel the message came on. A method with neither (``def
net_move(self, message)``) is called with the message alone, which is the
fastest call Python has.

Handler methods run inside ``update()``. An exception they raise propagates
out of it; the messages that arrived after the one being handled are not
lost but delivered, in order, by the next ``update()``.

Process-wide state: what a method's signature says (whether it takes
``channel``) is cached per function, process-wide, since a server attaches
one handler of the same class per connection. The answer depends only on
the function, so every thread may share it; the cache holds its functions
weakly (it never keeps a class alive) and is written under a lock, so
programs running one Server per thread can attach handlers concurrently.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
import threading
import warnings
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import PygneticWarning

if TYPE_CHECKING:
    from .connection import Connection
    from .message import MessageFactory
    from .server import Server

__all__ = ["Handler"]

#: A handler method, and whether it takes the ``channel`` keyword argument.
Target = tuple[Callable[..., None], bool]


class Handler:
    """Base class for objects that react to one connection's messages.

    Attributes:
        connection: :func:`Proxy <weakref.proxy>` to the
            :class:`~pygnetic.connection.Connection` the handler is attached
            to; once the connection has ended (after :meth:`on_disconnect`),
            the connection itself, so that its ``close_code`` and
            ``close_reason`` stay readable while the handler is kept.
        server (~pygnetic.server.Server | None): :func:`Proxy <weakref.proxy>`
            to the :class:`~pygnetic.server.Server` that accepted the
            connection, or None on a client.
    """

    connection: Connection
    server: Server | None = None

    def on_connect(self) -> None:
        """Called when the connection is established (on a server: accepted)."""

    def on_connecting(self, stage: str, adapter: str, status: str) -> None:
        """A client's connection moved on while connecting; ``status`` says how, in a line.

        ``stage`` is ``'connecting'`` (``adapter``, ``'ENet'`` or ``'TCP'``,
        started trying to reach the server) or ``'handshake'`` (it reached
        it; the server's answer is awaited). Only steps after the handler was
        added are heard: the first ``'connecting'`` happens inside
        ``connect()``, and only the event queue sees it.
        """

    def on_reconnecting(self, reason: str) -> None:
        """The link was lost, and the session can resume; ``reason`` says what happened.

        Only with a server's ``reconnect_grace``. A client is reconnecting
        now (each try is told to :meth:`on_connecting` with stage
        ``'reconnecting'``); a server keeps this handler and waits for the
        client. Next comes :meth:`on_reconnect`, or :meth:`on_disconnect`
        if the session does not resume in time.
        """

    def on_reconnect(self) -> None:
        """The lost connection resumed on a new link, in place of ``on_connect``.

        The same handler and connection objects go on (on a server, with
        the same ``connection.identity``); reliable messages sent by either
        side meanwhile are delivered, each once, in order per channel.
        """

    def on_disconnect(self) -> None:
        """Called once when the connection has ended, by either side or by failure.

        ``self.connection.close_code`` and ``self.connection.close_reason`` say why.
        """

    def on_receive(self, message: Any, **kwargs: Any) -> None:
        """Called for a received message that has no ``net_<name>`` method here.

        Args:
            message: The received message.
            **kwargs: The network adapter's keyword arguments: ``channel``.
        """

    def on_recive(self, message: Any, **kwargs: Any) -> None:
        """The pygnetic 1.0 spelling of :meth:`on_receive`; override either one."""


def _where(method: Any) -> str:
    function = getattr(method, "__func__", method)
    code = getattr(function, "__code__", None)
    if code is None:
        return repr(method)
    return f"{function.__qualname__} ({code.co_filename}:{code.co_firstlineno})"


def as_target(method: Any) -> Target:
    """Describe how to call a handler method: ``(method, wants_channel)``.

    ``wants_channel`` is true when the method has a parameter named
    ``channel`` or a ``**kwargs`` parameter; it is then called as
    ``method(message, channel=channel)``, otherwise as ``method(message)``,
    the cheapest call Python has.

    Raises:
        TypeError: ``method`` cannot be called with one positional argument.
    """
    function = getattr(method, "__func__", None)
    if function is None:
        return method, _wants_channel(method)
    # A server attaches a handler per connection: inspect each class's method once.
    try:
        wants_channel = _checked_functions[function]
    except (KeyError, TypeError):
        wants_channel = _wants_channel(method)
        with _cache_lock, contextlib.suppress(TypeError):  # not weak-referenceable: no cache
            _checked_functions[function] = wants_channel
    return method, wants_channel


#: ``wants_channel`` of the functions behind bound methods already checked.
_checked_functions: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()
#: Serialises writes to ``_checked_functions`` (see the module docstring).
_cache_lock = threading.Lock()


def _wants_channel(method: Any) -> bool:
    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError):  # builtins without a signature: trust them
        return False
    parameters = signature.parameters
    wants_channel = "channel" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )
    try:
        signature.bind(None, **({"channel": 0} if wants_channel else {}))
    except TypeError:
        raise TypeError(
            f"{_where(method)} must accept the received message as its one "
            "positional argument, e.g. def net_chat_msg(self, message, **kwargs)"
        ) from None
    return wants_channel


def _fallback(handler: Handler) -> Target | None:
    cls = type(handler)
    if cls.on_receive is not Handler.on_receive:
        return as_target(handler.on_receive)
    if cls.on_recive is not Handler.on_recive:
        return as_target(handler.on_recive)
    return None


def _warn_at(member: Any, cls: type, text: str) -> None:
    """Warn with ``text`` at the definition of ``member`` (else of ``cls``).

    The location is the offending code itself, wherever the handler was
    attached from: by the game, or by a Server accepting a client. Repeats
    are shown once, as :func:`warnings.warn` would (one registry per module).
    """
    function = getattr(member, "__func__", member)
    with contextlib.suppress(ValueError):  # a __wrapped__ cycle
        function = inspect.unwrap(function)
    code = getattr(function, "__code__", None)
    if code is not None:
        filename, lineno = code.co_filename, code.co_firstlineno
        module_globals = getattr(function, "__globals__", {})
    else:  # not a function (net_x = 5): point at the class
        try:
            filename, lineno = inspect.getsourcefile(cls) or "", inspect.getsourcelines(cls)[1]
        except (OSError, TypeError):
            warnings.warn(text, PygneticWarning, stacklevel=4)
            return
        module = sys.modules.get(cls.__module__)
        module_globals = vars(module) if module is not None else {}
    warnings.warn_explicit(
        text,
        PygneticWarning,
        filename,
        lineno,
        module=module_globals.get("__name__"),
        registry=module_globals.setdefault("__warningregistry__", {}),
        module_globals=module_globals,
    )


def resolve(handler: Handler, factory: MessageFactory) -> dict[type[Any], Target]:
    """Return, per message class of ``factory``, the method of ``handler`` that receives it.

    Warns about ``net_`` methods that match no registered message.
    """
    names = set(factory.names())
    cls = type(handler)
    for attribute in dir(cls):
        if attribute.startswith("net_") and attribute[4:] not in names:
            _warn_at(
                getattr(cls, attribute, None),
                cls,
                f"{cls.__qualname__}.{attribute} matches no registered message "
                f"(registered: {', '.join(sorted(names)) or 'none'})",
            )
    fallback = _fallback(handler)
    targets: dict[type[Any], Target] = {}
    for name in factory.names():
        method = getattr(handler, "net_" + name, None)
        target = as_target(method) if method is not None else fallback
        if target is not None:
            targets[factory.get_by_name(name)] = target
    return targets
