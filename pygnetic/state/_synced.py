"""py2p's synchronised dictionary (``sync_socket``) on the pygnetic state service.

Every program that opens the dictionary ``name`` keeps a local replica of it:
reads never leave the process, writes go to the service, which tells every
replica of the change. A key written is leased to its writer (for an hour,
as in py2p) unless it writes with ``leasing=False``: until the lease lapses
nobody else may change or delete the key.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from types import ModuleType
from typing import Any

from .. import event as events
from ..request import Request
from ._client import DEFAULT_TIMEOUT, Operation, StateClient, StateRequest
from ._errors import (
    InvalidRequestError,
    LeaseError,
    NoSuchKeyError,
    StateError,
    StateUnavailableError,
)
from ._model import DICT, unpack_value
from ._protocol import (
    DICT_ITEMS,
    DICT_POP,
    DICT_PUT,
    IDENTIFY,
    OPEN_SPACE,
    STATE_ADAPTER,
    VERSION,
    WATCH,
)

__all__ = ["DEFAULT_LEASE", "SyncedDict"]

log = logging.getLogger("pygnetic.state")

Callback = Callable[[StateRequest], Any] | None
ChangeCallback = Callable[[str, Any], Any]
Change = tuple[str, Any, "str | None"]  # key, value, hash (None: deleted)

#: Seconds a write leases its key for unless told otherwise (py2p's hour).
DEFAULT_LEASE = 3600.0
#: Seconds between :meth:`SyncedDict.poll`'s reconnection attempts: the first wait,
#: doubled after each attempt up to the last, until connected again.
RETRY_SECONDS, MAX_RETRY_SECONDS = 1.0, 32.0


def _leased(key: str, holder: str, until: float) -> LeaseError:
    when = datetime.fromtimestamp(until, timezone.utc).isoformat(timespec="seconds")
    text = f"{key!r} is leased to the writer {holder} until {when}"
    return LeaseError(text, key=key, holder=holder, expires=until)


def _valid(key: Any) -> bool:
    """Whether ``key`` may name a key (the service also bounds its length)."""
    return type(key) is str and bool(key) and key.isprintable()


class SyncedDict(StateClient):
    """A dictionary shared by every program that opens it, through a state service (py2p's).

    Connects, opens the dictionary (made if missing) and fills a local
    replica before returning::

        scores = SyncedDict('scores', 'localhost:8765', callback=print)
        scores['tom'] = 42                # blocks; leased to this writer
        best = max(scores.values())       # read from the replica
        scores.poll()                     # once a frame: hear others' changes

    Reads (``d[key]``, :meth:`get`, :meth:`keys` …) use the replica, with no
    round trip. Writes block until the service answers, then update the
    replica at once; their ``…_nowait`` forms return a
    :class:`~pygnetic.state.StateRequest`. Changes by others reach the
    replica inside :meth:`poll` and inside any blocking call. The replica
    holds values as they travelled (msgpack: a tuple comes back a list), so
    all replicas are equal. A value read is the replica's own object:
    changing it in place changes this replica alone; write it back instead.

    After the connection ends, the next write, or :meth:`poll` (after a
    second, then less and less often), connects again; the replica is then refreshed, and the
    callback told of each key that changed or vanished meanwhile. After
    :meth:`~pygnetic.state.StateClient.close` the replica stays readable.

    Args:
        name: The dictionary's name.
        server: ``'host'``, ``'host:port'`` or ``(host, port)``.
        leasing: Take a lease on each key written (py2p's default); False
            writes take none (still, nobody overwrites a key another holds).
        lease: Seconds a lease lasts, renewed by each write of its holder.
        timeout: Seconds to wait for the connection and for each answer.
        callback: ``callback(key, value)`` after each change by another
            writer (never for this one's writes), from the moment the
            constructor returns. A deleted key is told with ``value`` None;
            the replica is updated first, so ``key not in d`` tells a
            deletion from a value set to None.
        event: Also post a :data:`~pygnetic.event.NET_STATE_CHANGED` event per
            change, with ``source`` (this dictionary), ``name`` (its name),
            ``key``, ``value`` and ``hash`` (None: the key was deleted).
        secret: Who this writer is (16 to 256 characters): the same secret
            after a restart keeps its leases. Random unless given.
        adapter: Network adapter; the service must use the same one.
        clock: Monotonic time source in seconds (tests drive it).
        **client_options: As :class:`~pygnetic.state.StateClient`.

    Raises:
        StateUnavailableError: The service cannot be reached.
        InvalidRequestError: The name or the secret is refused.

    Attributes:
        name: The dictionary's name.
        leasing: As given; may be changed, as may ``lease``, ``callback`` and ``event``.
    """

    def __init__(
        self,
        name: str,
        server: str | tuple[str, int] = "localhost:8765",
        leasing: bool = True,
        *,
        lease: float = DEFAULT_LEASE,
        timeout: float = DEFAULT_TIMEOUT,
        callback: ChangeCallback | None = None,
        event: bool = False,
        secret: str | None = None,
        adapter: str | ModuleType | None = STATE_ADAPTER,
        clock: Callable[[], float] = time.monotonic,
        **client_options: Any,
    ) -> None:
        self.name, self.leasing, self.lease = name, leasing, lease
        self.callback, self.event = callback, event
        self._secret = secrets.token_urlsafe(24) if secret is None else secret
        self._id = ""
        self._replica: dict[str, Any] = {}
        self._hashes: dict[str, str] = {}
        self._touched: list[set[str]] = []  # per refresh in flight: keys pushes changed
        self._refreshing: list[StateRequest] = []
        self._telling = False  # not before the constructor returns
        self._retry_at, self._retry_wait = 0.0, RETRY_SECONDS
        super().__init__(server, timeout=timeout, adapter=adapter, clock=clock, **client_options)
        try:
            self._run("open", self._open())
        except BaseException:
            self.close()
            raise
        self._telling = True

    def __repr__(self) -> str:
        host, port = self.address
        return f"<SyncedDict {self.name!r} at {host}:{port}: {len(self._replica)} keys>"

    def __enter__(self) -> SyncedDict:
        return self

    @property
    def id(self) -> str:
        """This writer's public id: what :attr:`LeaseError.holder` says of its leases."""
        return self._id

    # -- the session and the replica -------------------------------------------------

    def _open(self) -> Operation:
        name = self.name
        # Sent together, answered in order: the watch is in place before the
        # first page is read, so no change falls between the two.
        identify = self._ask(IDENTIFY, self._secret)
        opened = self._ask(OPEN_SPACE, DICT, name, False, False, True)
        watched = self._ask(WATCH, DICT, name, "")
        first = self._ask(DICT_ITEMS, name, "")
        self._id = str((yield identify).text)
        yield opened
        yield watched
        self._watched(DICT, name, "", None, False, None)  # so a reconnect watches again
        yield from self._refresh(first)

    def _refresh(self, first: Request | None = None) -> Operation:
        """Page through the dictionary into the replica; drop the keys it no longer has."""
        seen: set[str] = set()
        touched: set[str] = set()  # by pushes meanwhile: newer than the page they fall in
        changes = []
        self._touched.append(touched)
        try:
            after, more = "", True
            while more:
                asked = first or self._ask(DICT_ITEMS, self.name, after)
                page, first = (yield asked), None
                for key, data, digest in page.rows:
                    seen.add(key)
                    changes.append(self._apply(key, data, digest))
                more = bool(page.more and page.rows)
                after = page.rows[-1][0] if page.rows else after
            for key in [k for k in self._replica if k not in seen and k not in touched]:
                changes.append(self._apply(key, None, None))
        finally:
            self._touched.remove(touched)
            # Told once the replica is whole (a callback that raises leaves no
            # key stale), or as far as it got if the connection ended.
            self._tell(changes)

    def _apply(self, key: str, data: bytes | None, digest: str | None) -> Change | None:
        """Bring ``key`` of the replica to ``data`` (None: deleted); return the change, if any."""
        for touched in self._touched:
            touched.add(key)
        if data is None:
            if self._hashes.pop(key, None) is None:
                return None
            del self._replica[key]
            return key, None, None
        if self._hashes.get(key) == digest:
            return None  # this replica's own write coming back, or nothing new
        value = self._replica[key] = unpack_value(data)
        self._hashes[key] = str(digest)
        return key, value, digest

    def _tell(self, changes: Iterable[Change | None]) -> None:
        if not self._telling:
            return
        for change in changes:
            if change is None:
                continue
            key, value, digest = change
            if self.callback is not None:
                self.callback(key, value)
            if self.event:
                fields = {"name": self.name, "key": key, "value": value, "hash": digest}
                events.post(events.NET_STATE_CHANGED, source=self, **fields)

    def _changed(self, message: Any) -> None:
        """Any key of the dictionary changed; the key ``''`` without data: it was deleted."""
        if message.kind != DICT or message.space != self.name:
            super()._changed(message)
        elif message.key:
            self._tell([self._apply(message.key, message.data, message.hash)])
        elif message.data is None:
            # Its watch ended with it: empty the replica, and open it anew as
            # a new SyncedDict would, so that the object goes on working.
            self._watches.pop((DICT, self.name, ""), None)
            self._tell([self._apply(key, None, None) for key in list(self._replica)])
            self._refreshing.append(self._start("open", self._open(), self._refreshed))

    def _session_requests(self) -> list[tuple[type[Any], tuple[Any, ...]]]:
        """A new connection is the same writer again, and opens the dictionary again."""
        return [(IDENTIFY, (self._secret,)), (OPEN_SPACE, (DICT, self.name, False, False, True))]

    def _rewatched(self, watched: tuple[str, str, str], request: Request) -> None:
        """Watching again after a reconnect: refresh the replica from then on."""
        super()._rewatched(watched, request)
        if watched == (DICT, self.name, "") and request.error is None:
            self._refreshing.append(self._start("refresh", self._refresh(), self._refreshed))

    def _refreshed(self, request: StateRequest) -> None:
        self._refreshing.remove(request)
        error = request.error
        if isinstance(error, StateError):  # the connection ended again: the next one refreshes
            log.info("cannot refresh the dictionary %r: %s", self.name, error)
        elif error is not None:  # the change callback raised: out of poll(), as for pushes
            raise error

    def poll(self, timeout_ms: int = 0) -> None:
        """Do the network work and hear others' changes: call it once a frame.

        (Not :meth:`update`, which is the dictionary's.) Once the connection
        has ended, it also connects again: after a second, then less often
        while the service stays away (up to every 32 s).

        Args:
            timeout_ms: Milliseconds to wait for network activity.
        """
        super().poll(timeout_ms)
        if self._connection.connected:
            self._retry_wait = RETRY_SECONDS
            return
        ended = self._connection.close_code is not None and not self._closed
        if ended and self.reconnect and not self._reconnecting and self._clock() >= self._retry_at:
            # Less and less often while the service stays away: each failed
            # attempt logs its replayed requests' failures.
            self._retry_at = self._clock() + self._retry_wait
            self._retry_wait = min(2 * self._retry_wait, MAX_RETRY_SECONDS)
            try:
                self._reconnect()
            except StateUnavailableError as exc:  # the next poll tries again
                log.info("cannot reconnect to %s: %s", self._where, exc)

    def sync(self) -> None:
        """Wait until the replica holds every change the service made before this call.

        One round trip, and the end of a refresh after a reconnect if one is
        under way; :meth:`poll` gets there too, in time.

        Raises:
            StateUnavailableError: The service cannot be reached.
        """
        self._run("sync", self._sync())
        for request in list(self._refreshing):
            request.wait()

    def _sync(self) -> Operation:
        yield self._ask(VERSION)

    # -- reads: the replica ------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        """Return the value of ``key`` in the replica.

        Raises:
            KeyError: It has none.
        """
        return self._replica[key]

    def get(self, key: str, ifError: Any = None) -> Any:  # py2p's name
        """Return the value of ``key`` in the replica, or ``ifError`` if it has none."""
        return self._replica.get(key, ifError)

    def __contains__(self, key: object) -> bool:
        return key in self._replica

    def __len__(self) -> int:
        return len(self._replica)

    def __iter__(self) -> Iterator[str]:
        """Iterate over the keys the replica holds now, as :meth:`keys`."""
        return self.keys()

    def keys(self) -> Iterator[str]:
        """Return an iterator over the replica's keys, as they are now.

        An iterator of a snapshot, as py2p documents, not a live view: changes
        heard while iterating (a write in the loop pumps the connection) do not disturb it.
        """
        return iter(list(self._replica))

    def values(self) -> Iterator[Any]:
        """Return an iterator over the replica's values, as they are now (see :meth:`keys`)."""
        return iter(list(self._replica.values()))

    def items(self) -> Iterator[tuple[str, Any]]:
        """Return an iterator over the replica's ``(key, value)`` pairs, as they are now."""
        return iter(list(self._replica.items()))

    def copy(self) -> dict[str, Any]:
        """Return a plain :class:`dict` copy of the replica (shallow)."""
        return dict(self._replica)

    # -- writes ------------------------------------------------------------------------

    def _set(self, key: str, value: Any) -> Operation:
        if not _valid(key):
            raise InvalidRequestError(f"a key is a non-empty printable str, not {key!r:.80}")
        data = self._pack(value)
        lease = self.lease if self.leasing else 0
        answer = yield self._ask(DICT_PUT, self.name, key, data, lease)
        if not answer.ok:
            raise _leased(key, answer.holder, answer.until)
        self._apply(key, data, answer.hash)  # untold: the callback hears of others' writes
        return str(answer.hash)

    def set(self, key: str, data: Any) -> None:
        """Set ``key`` to ``data``, leasing it to this writer (py2p's name).

        Raises:
            LeaseError: (a ``KeyError``) Another writer holds the key's lease.
            InvalidRequestError: Not a key (a non-empty printable str, no
                longer than the service allows), or a value that cannot travel.
            SizeError: The packed value is over the service's limit.
            QuotaError: The key is new and the dictionary holds its most keys.
        """
        self._run("set", self._set(key, data))

    def __setitem__(self, key: str, value: Any) -> None:
        """``d[key] = value``: :meth:`set`."""
        self._run("set", self._set(key, value))

    def set_nowait(
        self, key: str, data: Any, callback: Callback = None, event: bool = False
    ) -> StateRequest:
        """:meth:`set`, without waiting; the request's result is the value's hash."""
        return self._start("set", self._set(key, data), callback, event)

    def _update(self, pairs: list[tuple[str, Any]]) -> Operation:
        for key, value in pairs:
            yield from self._set(key, value)

    def update(self, update_dict: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
        """Set each key of ``update_dict`` in turn, as :meth:`set` (py2p's update).

        The dictionary's update, not the network pump (that is :meth:`poll`).
        A failure stops it there: the keys before stay written.

        Raises:
            LeaseError: Another writer holds the lease of one of the keys.
        """
        self._run("update", self._update(list(dict(update_dict).items())))

    def _pop(self, key: str, default: tuple[Any, ...]) -> Operation:
        if len(default) > 1:
            raise TypeError(f"pop expected at most 2 arguments, got {1 + len(default)}")
        try:
            if not _valid(key):  # cannot be in the dictionary
                raise KeyError(key)
            answer = yield self._ask(DICT_POP, self.name, key)
        except KeyError:  # NoSuchKeyError from the service
            if default:
                return default[0]
            raise
        if not answer.ok:
            raise _leased(key, answer.holder, answer.until)
        self._apply(key, None, None)
        return unpack_value(answer.data)

    def pop(self, key: str, *default: Any) -> Any:
        """Delete ``key`` and return its value; ``default`` if it has none, when given.

        Raises:
            KeyError: It has no value and no default is given
                (:exc:`~pygnetic.state.NoSuchKeyError`).
            LeaseError: Another writer holds its lease (default or not: the
                key has a value, and keeps it).
        """
        return self._run("pop", self._pop(key, default))

    def pop_nowait(
        self, key: str, *default: Any, callback: Callback = None, event: bool = False
    ) -> StateRequest:
        """:meth:`pop`, without waiting; the request's result is the value."""
        return self._start("pop", self._pop(key, default), callback, event)

    def __delitem__(self, key: str) -> None:
        """``del d[key]``.

        Raises:
            KeyError: It has no value.
            LeaseError: Another writer holds its lease.
        """
        self._run("delete", self._pop(key, ()))

    def delete_nowait(
        self, key: str, callback: Callback = None, event: bool = False
    ) -> StateRequest:
        """``del d[key]``, without waiting; the request's result is the value deleted."""
        return self._start("delete", self._pop(key, ()), callback, event)

    def _popitem(self) -> Operation:
        refused: LeaseError | None = None
        for key in reversed(list(self._replica)):
            try:
                value = yield from self._pop(key, ())
            except LeaseError as exc:  # another writer's key: try the next one
                refused = exc
                continue
            except NoSuchKeyError:  # deleted meanwhile
                continue
            return key, value
        if refused is not None:
            raise refused
        raise KeyError("popitem(): the dictionary is empty")

    def popitem(self) -> tuple[str, Any]:
        """Delete the last key of the replica that this writer may delete; return it.

        Returns:
            ``(key, value)``.

        Raises:
            KeyError: The dictionary is empty.
            LeaseError: Every key is leased to another writer.
        """
        return self._run("popitem", self._popitem())  # type: ignore[no-any-return]
