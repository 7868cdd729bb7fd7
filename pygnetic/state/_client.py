"""What every client of the state service shares: the connection, requests, watches.

:class:`StateClient` owns a private :class:`~pygnetic.client.Client` (no
pygame events of its own) and one :class:`~pygnetic.request.Requester`.
An operation is a generator that yields the requests it sends and gets their
answers back (or their errors thrown in), so one that takes several round
trips, like ``apply_op``, runs the same way blocking or from a game loop:
:class:`StateRequest` drives it from the answers' callbacks, inside ``poll()``.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Generator
from types import ModuleType
from typing import Any

from .. import event
from ..client import Client
from ..errors import LocalError, MessageError, PackError
from ..handler import Handler
from ..request import Request, RequestAborted, Requester, RequestRefused, RequestTimeout
from ._errors import (
    ERRORS_BY_CODE,
    AbortedError,
    InvalidAddressError,
    InvalidRequestError,
    SizeError,
    StateError,
    StateTimeoutError,
    StateUnavailableError,
    UnexpectedError,
)
from ._model import MAX_VALUE_SIZE_LIMIT, _serializer, unpack_value
from ._protocol import (
    CHANGED,
    STATE_ADAPTER,
    STATE_PORT,
    WATCH,
    state_messages,
    state_requests,
)

__all__ = ["StateClient", "StateRequest", "parse_address"]

log = logging.getLogger("pygnetic.state")

#: Seconds a state client waits to connect, and for each answer, unless told otherwise.
DEFAULT_TIMEOUT = 10.0

Operation = Generator[Request, Any, Any]
WatchCallback = Callable[[str, Any, "str | None"], Any]
_PENDING: Any = object()
_Watch = tuple["WatchCallback | None", bool, "str | None"]


def parse_address(server: str | tuple[str, int]) -> tuple[str, int]:
    """Return ``(host, port)`` of ``'host'``, ``'host:port'``, ``'[v6]:port'`` or a pair.

    Raises:
        InvalidAddressError: It is none of these.
    """
    if isinstance(server, tuple):
        if len(server) != 2:
            raise InvalidAddressError(f"a server address is (host, port), not {server!r}")
        host, port = server
    elif isinstance(server, str):
        host, port = _split(server)  # type: ignore[assignment]
    else:
        raise InvalidAddressError(f"a server address is 'host:port', not {server!r}")
    if not isinstance(host, str) or not host:
        raise InvalidAddressError(f"no host in the server address {server!r}")
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise InvalidAddressError(f"the port of {server!r} is not a number") from None
    if not 0 < port < 65536:
        raise InvalidAddressError(f"the port of {server!r} is not between 1 and 65535")
    return host, port


def _split(server: str) -> tuple[str, int | str]:
    text = server.strip()
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise InvalidAddressError(f"{server!r} is not '[address]:port'")
        return host, rest[1:] if rest else STATE_PORT
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, port
    return text, STATE_PORT  # a name, an IPv4 address, or a bare IPv6 address


def _unpackable(error: PackError) -> str:
    """Say what cannot travel, without the message's own field list."""
    text = str(error)
    detail = text.rpartition(": ")[2] if ": " in text else text
    return f"the value cannot be sent to the state service: {detail}"[:300]


def state_error(error: BaseException) -> BaseException:
    """Return the :mod:`pygnetic.state` exception for a failed request's error."""
    if isinstance(error, RequestRefused):
        cls = ERRORS_BY_CODE.get(error.code) if isinstance(error.code, str) else None
        return (cls or UnexpectedError)(error.reason)
    if isinstance(error, RequestTimeout):
        return StateTimeoutError(str(error))
    if isinstance(error, StateError):
        return error
    if isinstance(error, RequestAborted):
        return StateUnavailableError(f"the state service went away: {error}")
    return UnexpectedError(str(error))


class StateRequest:
    """One operation of a state client in flight; made by the ``…_nowait`` methods.

    Done once it has a result or an error; then its ``callback`` runs (with
    the request) and, if it was made with ``event=True``, a
    :data:`~pygnetic.event.NET_STATE_REQUEST` event is posted. Both happen
    inside the client's :meth:`~StateClient.poll`, also for a request that
    failed before anything was sent (say, with no application joined): it
    is done at once, and told of in the next ``poll()``.

    Attributes:
        name: What it does (``'get'``, ``'apply_op'`` …), for messages.
        callback: Called with the request once it is done, or None.
    """

    def __init__(
        self,
        client: StateClient,
        name: str,
        operation: Operation,
        callback: Callable[[StateRequest], Any] | None,
        event: bool,
    ) -> None:
        self.name = name
        self.callback = callback
        self._client = client
        self._operation = operation
        self._event = event
        self._result: Any = _PENDING
        self._error: BaseException | None = None
        self._inner: Request | None = None
        self._starting = True
        self._step(None, None)
        self._starting = False

    def __repr__(self) -> str:
        if not self.done:
            return f"<StateRequest {self.name}: pending>"
        return (
            f"<StateRequest {self.name}: {self._error!r}>"
            if self._error
            else (f"<StateRequest {self.name}: done>")
        )

    @property
    def done(self) -> bool:
        """True once the operation has its result or its error."""
        if self._result is _PENDING and self._error is None and self._inner is not None:
            self._inner.done  # noqa: B018 (times the request out if it is overdue)
        return self._result is not _PENDING or self._error is not None

    @property
    def error(self) -> BaseException | None:
        """Why it failed: a :class:`~pygnetic.state.StateError`, or what a function raised."""
        self.done  # noqa: B018
        return self._error

    def result(self) -> Any:
        """Return the result.

        Raises:
            StateError: The operation failed (the error in :attr:`error`).
            LocalError: It is still pending.
        """
        if not self.done:
            raise LocalError(f"{self!r} is still pending; check done first, or wait()")
        if self._error is not None:
            raise self._error
        return self._result

    def wait(self, timeout: float | None = None) -> Any:
        """Pump the client until the operation is done; return its result.

        Args:
            timeout: Seconds at most; None: until the requests' own timeouts.

        Raises:
            StateTimeoutError: Not done in time (the request stays pending).
            StateError: The operation failed.
        """
        client = self._client
        give_up = math.inf if timeout is None else client._clock() + timeout
        while not self.done:
            if client._clock() >= give_up:
                raise StateTimeoutError(f"{self.name} not done within {timeout:g} s")
            client.poll(5)
        return self.result()

    def cancel(self) -> None:
        """Give the operation up: it fails with :exc:`~pygnetic.state.AbortedError` now.

        Its answers are ignored from then on. A workspace fetch given up
        asks the service to end it; a value already on its way back is
        stored again, so that no value is lost. Nothing if it is done.
        """
        if self.done:
            return
        self._inner = None
        cancelled = AbortedError(f"{self.name} was cancelled")
        error: BaseException = cancelled
        try:  # the operation's own clean-up runs, and may say the error its own way
            self._operation.throw(cancelled)
        except StopIteration:
            pass
        except Exception as raised:
            error = raised
        else:
            self._operation.close()
        self._finish(_PENDING, error)

    def _step(self, answer: Any, error: BaseException | None) -> None:
        try:
            if error is not None:
                inner = self._operation.throw(error)
            else:
                inner = self._operation.send(answer)
        except StopIteration as stop:
            self._finish(stop.value, None)
            return
        except Exception as failed:  # e.g. apply_op's func raised: the request fails with it
            self._finish(_PENDING, failed)
            return
        self._inner = inner
        inner.callback = self._answered
        if inner.done:  # failed at once, e.g. on a closed connection
            self._answered(inner)

    def _answered(self, inner: Request) -> None:
        if inner is not self._inner:
            return
        self._inner = None
        error = inner.error
        if error is not None:
            self._step(None, state_error(error))
        else:
            self._step(inner.result(), None)

    def _finish(self, result: Any, error: BaseException | None) -> None:
        self._result, self._error = result, error
        if self._starting:  # failed before anything was sent: tell in the next poll()
            self._client._finished_early.append(self)
        else:
            self._announce()

    def _announce(self) -> None:
        if self.callback is not None:
            self.callback(self)
        if self._event:
            event.post(event.NET_STATE_REQUEST, source=self._client, request=self)


class _Pushes(Handler):
    """Takes what the service sends without a request: watched keys' changes."""

    def __init__(self, client: StateClient) -> None:
        self._client = client

    def net_changed(self, message: Any, **kwargs: Any) -> None:
        self._client._changed(message)


class StateClient:
    """A connection to a state service, and the requests on it.

    Args:
        server: ``'host'``, ``'host:port'`` or ``(host, port)``; the port
            defaults to :data:`~pygnetic.state.STATE_PORT` (8765).
        timeout: Seconds to wait for the connection and for each answer.
        blocking: Wait in the constructor until connected (raising
            :exc:`~pygnetic.state.StateUnavailableError` if that fails);
            False returns at once, and requests wait for the connection.
        adapter: Network adapter; the service must use the same one.
        clock: Monotonic time source in seconds (tests drive it).
        **client_options: Passed on to :class:`~pygnetic.client.Client`.

    A connection that ends (the service restarted, the network failed)
    fails the requests waiting on it with
    :exc:`~pygnetic.state.StateUnavailableError`; the next request connects
    again, and first repeats what the session had done: the login, the
    join, the watches. So a game that catches the error once goes on. (The
    password stays in memory for that, never on disk.)

    Attributes:
        address: ``(host, port)`` of the service.
        timeout: As given.
        reconnects: How many times it connected again.
        reconnect: Whether a request after the connection ended connects again
            (True); False fails it with StateUnavailableError instead.
    """

    def __init__(
        self,
        server: str | tuple[str, int] = ("localhost", STATE_PORT),
        *,
        timeout: float = DEFAULT_TIMEOUT,
        blocking: bool = True,
        adapter: str | ModuleType | None = STATE_ADAPTER,
        clock: Callable[[], float] = time.monotonic,
        **client_options: Any,
    ) -> None:
        self.address = parse_address(server)
        self.timeout = timeout
        self._clock = clock
        self._closed = False
        self.reconnects = 0
        self.reconnect = True
        # Room for an ending connection next to its replacement.
        self._client = Client(
            2,
            state_messages,
            adapter=adapter,
            timeout=max(timeout, 1.0),
            events=False,
            clock=clock,
            log_connections=False,
            **client_options,
        )
        # (kind, space, key) -> (callback, event, the hash last heard of)
        self._watches: dict[
            tuple[str, str, str], tuple[WatchCallback | None, bool, str | None]
        ] = {}
        self._reconnecting = False
        self._finished_early: list[StateRequest] = []
        try:
            self._connect()
        except StateUnavailableError:
            self._client.close()
            raise
        if blocking:
            self._wait_connected()

    def _connect(self) -> None:
        try:
            self._connection = self._client.connect(*self.address)
        except OSError as exc:  # e.g. the name does not resolve
            raise StateUnavailableError(f"cannot reach {self._where}: {exc}") from None
        self._connection.add_handler(_Pushes(self))
        self._requests = Requester(
            self._connection,
            state_requests,
            timeout=self.timeout,
            clock=self._clock,
            pump=self.poll,
        )

    @property
    def _where(self) -> str:
        host, port = self.address
        return f"the state service at {host}:{port}"

    def _wait_connected(self) -> None:
        give_up = self._clock() + self.timeout
        connection = self._connection
        while not connection.connected:
            if connection.close_code is not None:
                self.close()
                raise StateUnavailableError(
                    f"cannot reach {self._where}: {connection.close_reason or 'refused'}"
                )
            if self._clock() >= give_up:
                self.close()
                raise StateUnavailableError(
                    f"cannot reach {self._where}: no answer within {self.timeout:g} s"
                )
            self._client.update(5)

    @property
    def connected(self) -> bool:
        """True while the connection to the service is open."""
        return self._connection.connected

    def poll(self, timeout_ms: int = 0) -> None:
        """Do the network work: send, receive, complete requests, call watch callbacks.

        Call it once per frame of a game loop (blocking calls call it themselves).

        Args:
            timeout_ms: Milliseconds to wait for network activity.
        """
        if self._closed:
            return
        self._client.update(timeout_ms)
        self._requests.poll()
        finished = self._finished_early
        while finished:  # one by one: a callback that raises leaves the rest for later
            finished.pop(0)._announce()

    def close(self) -> None:
        """Close the connection; pending requests fail with StateUnavailableError."""
        self._closed = True
        self._client.close()
        self._requests.poll()

    def __enter__(self) -> StateClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- requests ------------------------------------------------------------------

    def _ask(self, request: type[Any], *fields: Any, timeout: float | None = None) -> Request:
        if self._connection.close_code is not None:
            if self._closed or not self.reconnect:
                raise StateUnavailableError(
                    f"the connection to {self._where} "
                    + ("was closed" if self._closed else f"ended: {self._connection.close_reason}")
                )
            self._reconnect()
        try:
            return self._requests.ask(request, *fields, timeout=timeout)
        except PackError as exc:  # a value the serializer does not carry
            raise InvalidRequestError(_unpackable(exc)) from None

    @staticmethod
    def _pack(value: Any) -> bytes:
        """Pack a value for the service, as :func:`~pygnetic.state.hash_value` does.

        Raises:
            InvalidRequestError: msgpack cannot carry it.
            SizeError: It is over :data:`~pygnetic.state.MAX_VALUE_SIZE_LIMIT`
                (the service's own limit may be lower; it refuses then).
        """
        try:
            data: bytes = _serializer().pack(value)
        except (PackError, TypeError, ValueError, OverflowError) as exc:
            raise InvalidRequestError(
                f"the value cannot be sent to the state service: {exc}"[:300]
            ) from None
        if len(data) > MAX_VALUE_SIZE_LIMIT:
            raise SizeError(
                f"the value packs to {len(data)} bytes, over any service's limit "
                f"({MAX_VALUE_SIZE_LIMIT})"
            )
        try:
            # What the service would refuse (a dict keyed by tuples, nesting
            # deeper than its limits) is refused here, before it is sent.
            unpack_value(data)
        except MessageError as exc:
            raise InvalidRequestError(
                f"the state service cannot take this value: {exc}"[:300]
            ) from None
        return data

    def _reconnect(self) -> None:
        """Connect again and repeat the session's requests; answered before any later one."""
        if self._reconnecting:  # a callback of a request failed by this reconnect
            raise StateUnavailableError(f"reconnecting to {self._where}")
        self._reconnecting = True
        try:
            reason = self._connection.close_reason
            old = self._requests
            self._connect()  # first: a retry made by a failing request's callback uses it
            self.reconnects += 1
            log.info("reconnecting to %s (the connection ended: %s)", self._where, reason)
            for request, fields in self._session_requests():
                self._requests.ask(request, *fields, callback=self._replayed)
            for watched in self._watches:
                rewatched = functools.partial(self._rewatched, watched)
                self._requests.ask(WATCH, *watched, callback=rewatched)
            old.poll()  # what waited on the old connection fails now
        finally:
            self._reconnecting = False

    def _session_requests(self) -> list[tuple[type[Any], tuple[Any, ...]]]:
        """The requests that bring a new connection to where the last one was (subclasses)."""
        return []

    def _replayed(self, request: Request) -> None:
        error = request.error
        if error is not None:
            failed = state_error(error)
            name = request.request_type.__name__
            log.warning("after reconnecting to %s, %s failed: %s", self._where, name, failed)
            if isinstance(error, RequestRefused):  # not the connection failing again
                self._replay_failed(request.request_type, failed)

    def _rewatched(self, watched: tuple[str, str, str], request: Request) -> None:
        """A watch made again after a reconnect: tell of a change made meanwhile."""
        if request.error is not None:
            self._replayed(request)
            if isinstance(request.error, RequestRefused):
                self._watches.pop(watched, None)
            return
        answer = request.result()
        watch = self._watches.get(watched)
        if watch is not None and answer.hash != watch[2]:
            self._changed(CHANGED(*watched, answer.data, answer.hash))

    def _replay_failed(self, request: type[Any], error: BaseException) -> None:
        """A repeated session request failed: forget what it stood for (subclasses)."""

    def _start(
        self,
        name: str,
        operation: Operation,
        callback: Callable[[StateRequest], Any] | None = None,
        event: bool = False,
    ) -> StateRequest:
        return StateRequest(self, name, operation, callback, event)

    def _run(self, name: str, operation: Operation) -> Any:
        request = self._start(name, operation)
        try:
            return request.wait()
        except BaseException:
            request.cancel()  # e.g. KeyboardInterrupt: nobody waits for it any more
            raise

    # -- watches -------------------------------------------------------------------

    def _watched(
        self,
        kind: str,
        space: str,
        key: str,
        callback: WatchCallback | None,
        event: bool,
        digest: str | None,
    ) -> None:
        self._watches[kind, space, key] = (callback, event, digest)

    def _changed(self, message: Any) -> None:
        watched = (message.kind, message.space, message.key)
        watch = self._watches.get(watched)
        if watch is None:
            return  # unwatched meanwhile
        callback, post, _ = watch
        value = None if message.data is None else unpack_value(message.data)
        digest = None if message.data is None else message.hash
        self._watches[watched] = (callback, post, digest)
        if callback is not None:
            callback(message.key, value, digest)
        if post:
            event.post(
                event.NET_STATE_CHANGED, source=self, key=message.key, value=value, hash=digest
            )
