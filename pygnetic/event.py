"""pygame events for network activity, for games that prefer ``pygame.event.get()``.

Enable them with ``pygnetic.init(events=True)`` after ``pygame.init()``,
before or after creating the :class:`~pygnetic.client.Client` or
:class:`~pygnetic.server.Server`: from their next ``update()`` on, their
connections post one :data:`NETWORK` event per happening (unless a host was
made with ``events=False``)::

    import pygnetic.event as event   # not: from pygnetic.event import NETWORK

    for e in pygame.event.get():
        if e.type == event.NETWORK:
            if e.net_type == event.NET_CONNECTED:
                print('connected')
            elif e.net_type == event.NET_DISCONNECTED:
                print('disconnected:', e.reason)
            elif e.net_type == event.NET_RECEIVED:
                if e.msg_type == chat_msg:
                    print(f'{e.message.player}: {e.message.msg}')

Event attributes, besides ``type == NETWORK``:

========================  ==================================================
``net_type``              attributes
========================  ==================================================
:data:`NET_CONNECTING`    ``connection``, ``stage`` (``'connecting'``: an
                          adapter started trying to reach the server;
                          ``'handshake'``: one reached it, the answer is
                          awaited), ``adapter`` (``'ENet'``, ``'TCP'``),
                          ``status`` (a line for the player to read);
                          ``'reconnecting'``: a try at resuming a lost
                          connection started
:data:`NET_CONNECTED`     ``connection`` (client side: the server accepted us)
:data:`NET_ACCEPTED`      ``connection`` (server side: a client was accepted)
:data:`NET_RECEIVED`      ``connection``, ``message``, ``msg_type`` (the
                          message class), ``channel``
:data:`NET_DISCONNECTED`  ``connection``, ``code`` (a
                          :class:`~pygnetic.protocol.CloseCode`), ``reason``
                          (text)
:data:`NET_RECONNECTING`  ``connection``, ``reason`` (text): the link was
                          lost and the session can resume; a client
                          reconnects, a server waits for it
:data:`NET_RECONNECTED`   ``connection``: the session resumed on a new link
========================  ==================================================

LAN discovery posts two more kinds, from a :class:`~pygnetic.discovery.Browser`
rather than from a connection (they have no ``connection`` attribute):

:data:`NET_SERVER_FOUND`
    ``server`` (a :class:`~pygnetic.discovery.ServerInfo`), ``browser`` (the
    browser that heard it): a game server announced itself for the first time.
:data:`NET_SERVER_LOST`
    ``server``, ``browser``: the server said goodbye or stopped announcing.

A replicated state posts one more, from a :class:`pygnetic.gamestate.Client`
or a :class:`pygnetic.syncobject.SyncObjectManager` on a client:

:data:`NET_STATE`
    ``source`` (the Client or manager), ``time_order``: new state arrived,
    once per ``update()`` however many state messages it applied.

A client of the state service (:mod:`pygnetic.state`) posts two more, when
asked to with ``event=True``:

:data:`NET_STATE_REQUEST`
    ``source`` (the client, e.g. a ``DistributedState``), ``request`` (the
    :class:`~pygnetic.state.StateRequest`, now done): a request finished.
:data:`NET_STATE_CHANGED`
    ``source``, ``key``, ``value``, ``hash`` (None when the key was deleted):
    a watched key changed.

Nothing here imports pygame until :func:`init` runs, so dedicated servers
need neither pygame nor a display. Both ``pygame`` and ``pygame-ce`` work.
Call ``pygame.event.get()`` every frame: pygame's queue holds 65535 events,
and events that do not fit are dropped with a logged error.

Process-wide state: pygame has one event queue per process, so whether
events are enabled, :data:`NETWORK` and the count of dropped events are
module globals, shared by every Client and Server in every thread; turning
events on or off affects them all. They change under a lock, so that a
program running one Server per thread can call :func:`init` from several
threads at once and every caller gets the same :data:`NETWORK`, and posting
(``pygame.event.post`` is thread-safe) counts dropped events exactly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

from ._defaults import import_optional
from .errors import EventsError

__all__ = [
    "NETWORK",
    "NET_ACCEPTED",
    "NET_CONNECTED",
    "NET_CONNECTING",
    "NET_DISCONNECTED",
    "NET_RECEIVED",
    "NET_RECONNECTED",
    "NET_RECONNECTING",
    "NET_SERVER_FOUND",
    "NET_SERVER_LOST",
    "NET_STATE",
    "NET_STATE_CHANGED",
    "NET_STATE_REQUEST",
    "enabled",
    "init",
    "post",
    "receipt_poster",
]

#: pygame event type of every network event; None until :func:`init` has run.
NETWORK: int | None = None
#: ``net_type`` of the event posted when a connection ends.
NET_DISCONNECTED = 0
#: ``net_type`` of the event posted when a client's connection is accepted.
NET_CONNECTED = 1
#: ``net_type`` of the event posted when a server accepts a connection.
NET_ACCEPTED = 2
#: ``net_type`` of the event posted for every received message.
NET_RECEIVED = 3
#: ``net_type`` of the event a LAN :class:`~pygnetic.discovery.Browser` posts
#: when it hears a game server for the first time.
NET_SERVER_FOUND = 4
#: ``net_type`` of the event a LAN :class:`~pygnetic.discovery.Browser` posts
#: when a game server says goodbye or stops announcing itself.
NET_SERVER_LOST = 5
#: ``net_type`` of the events a client's connection posts while it connects:
#: an adapter starts trying to reach the server, or one reached it.
NET_CONNECTING = 6
#: ``net_type`` of the event a replicated state posts when new state arrived
#: (:mod:`pygnetic.gamestate`, :mod:`pygnetic.syncobject`).
NET_STATE = 7
#: ``net_type`` of the event a resumable connection posts when its link is lost:
#: a client reconnects, a server waits for it (``reconnect_grace``).
NET_RECONNECTING = 8
#: ``net_type`` of the event posted when a lost connection resumed on a new link.
NET_RECONNECTED = 9
#: ``net_type`` of the event a :mod:`pygnetic.state` client posts when one of
#: its requests is done (made with ``event=True``).
NET_STATE_REQUEST = 10
#: ``net_type`` of the event a :mod:`pygnetic.state` client posts when a key it
#: watches changed (watched with ``event=True``).
NET_STATE_CHANGED = 11

log = logging.getLogger("pygnetic.event")
_pygame: ModuleType | None = None
_dropped = 0
#: Bumped by every :func:`init` and :func:`disable`: a Client or Server compares
#: it once per ``update()`` to notice that events were turned on or off.
_changes = 0
#: Guards the globals above (see the module docstring).
_lock = threading.Lock()


def enabled() -> bool:
    """Return True once :func:`init` has enabled events."""
    return _pygame is not None


def init(event_val: int | None = None) -> int:
    """Enable posting network events to pygame's queue and return :data:`NETWORK`.

    Args:
        event_val: None (the default) reserves a fresh event type with
            ``pygame.event.custom_type()``, which never collides with the
            game's own. An int makes ``NETWORK = pygame.USEREVENT + event_val``,
            as pygnetic 1.0 did.

    Raises:
        AdapterUnavailableError: pygame (or pygame-ce) is not installed.
        EventsError: pygame's display (and so its event queue) is not
            initialised yet; call ``pygame.init()`` first.
    """
    global NETWORK, _pygame, _changes
    pygame = import_optional("pygame", "pygame")
    if not pygame.display.get_init():
        raise EventsError(
            "pygame is not initialised: call pygame.init() before pygnetic.init(events=True)"
        )
    with _lock:  # threads racing here must not each reserve an event type
        if event_val is not None:
            NETWORK = pygame.USEREVENT + int(event_val)
        elif NETWORK is None or _pygame is None:
            NETWORK = pygame.event.custom_type()
        _pygame = pygame
        _changes += 1
        return NETWORK


def disable() -> None:
    """Stop posting events, from every connection, until :func:`init` runs again."""
    global _pygame, _changes
    with _lock:
        _pygame = None
        _changes += 1


def post(net_type: int, **attributes: Any) -> None:
    """Post one :data:`NETWORK` event; used by connections.

    Raises:
        EventsError: pygame was shut down (``pygame.quit()``) while events were on.
    """
    pygame = _pygame
    if pygame is None:
        return
    attributes["net_type"] = net_type
    try:
        pygame.event.post(pygame.event.Event(NETWORK, attributes))
    except pygame.error as exc:
        _not_posted(pygame, exc)


def receipt_poster(connection: Any) -> Callable[..., None]:
    """Return the function that posts ``connection``'s :data:`NET_RECEIVED` events.

    It takes ``(message, channel=0)``, as a handler method does, and posts
    one event per message received: :func:`post`, made for that, as the
    connection's receive target. pygame builds an event from a dict three
    times faster than from keywords, and keeps the dict given (a new one
    each time, then).

    The function raises :exc:`EventsError` when pygame was shut down
    (``pygame.quit()``) while events were on.
    """

    def post_received(message: Any, channel: int = 0) -> None:
        pygame = _pygame
        if pygame is None:
            return
        attributes = {
            "net_type": NET_RECEIVED,
            "connection": connection,
            "message": message,
            "msg_type": type(message),
            "channel": channel,
        }
        try:
            pygame.event.post(pygame.event.Event(NETWORK, attributes))
        except pygame.error as exc:
            _not_posted(pygame, exc)

    return post_received


def _not_posted(pygame: ModuleType, exc: Exception) -> None:
    """Count an event pygame refused because its queue is full, or raise if pygame quit."""
    global _dropped
    if not pygame.display.get_init():
        raise EventsError(
            "pygame was shut down while pygnetic events are enabled; "
            "close the Server/Client before pygame.quit()"
        ) from exc
    with _lock:
        _dropped += 1
        dropped = _dropped
    if dropped in (1, 10, 100) or dropped % 1000 == 0:
        log.error(
            "pygame event queue full: %d network event(s) dropped so far; "
            "call pygame.event.get() every frame",
            dropped,
        )
