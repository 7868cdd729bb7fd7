"""The asking side of :mod:`pygnetic.request`: :class:`Requester` and :class:`Request`.

Import these names from :mod:`pygnetic.request`, which re-exports them.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._request_common import (
    DEFAULT_TIMEOUT,
    MAX_REQUEST_ID,
    RequestAborted,
    RequestError,
    RequestRefused,
    RequestTimeout,
    _cap,
    _code,
)
from .errors import LocalError
from .handler import Handler

if TYPE_CHECKING:
    from ._request_answering import RequestTypes
    from .connection import Connection

__all__ = ["Request", "Requester"]

log = logging.getLogger("pygnetic.request")

_PENDING: Any = object()


class Request:
    """One request in flight; made by :meth:`Requester.ask`.

    Attributes:
        request_id: Its id on the connection.
        request_type: The request message class.
        timeout: Seconds it may wait for its answer.
        deadline: When it times out, by the requester's clock.
        callback: Called with the request once it is done, or None.
    """

    def __init__(
        self,
        requester: Requester,
        request_id: int,
        request_type: type[Any],
        timeout: float,
        deadline: float,
        callback: Callable[[Request], Any] | None,
    ) -> None:
        self.request_id = request_id
        self.request_type = request_type
        self.timeout = timeout
        self.deadline = deadline
        self.callback = callback
        self._requester = requester
        self._answer: Any = _PENDING
        self._error: RequestError | None = None

    def __repr__(self) -> str:
        if self._answer is _PENDING and self._error is None:
            state = "pending"
        else:
            state = repr(self._error) if self._error is not None else "answered"
        return f"<Request {self.request_type.__name__} {self.request_id}: {state}>"

    def _settled(self) -> bool:
        if self._answer is _PENDING and self._error is None:
            self._requester._check(self)
        return self._answer is not _PENDING or self._error is not None

    @property
    def done(self) -> bool:
        """True once answered or failed; times the request out if its deadline passed."""
        return self._settled()

    @property
    def error(self) -> RequestError | None:
        """Why the request failed, or None (answered, or still pending)."""
        self._settled()
        return self._error

    def result(self) -> Any:
        """Return the answer message.

        Raises:
            RequestError: The request failed (the error in :attr:`error`).
            LocalError: It is still pending.
        """
        if not self._settled():
            raise LocalError(f"{self!r} is still pending; check done first, or wait()")
        if self._error is not None:
            raise self._error
        return self._answer

    def wait(self, timeout: float | None = None, step_ms: int = 5) -> Any:
        """Pump the host's ``update()`` until the request is done; return the answer.

        For scripts and tests; a game loop checks :attr:`done` instead.
        Time is measured with the requester's clock: with a hand-driven
        clock, let the requester's ``pump`` advance it, or nothing ends the wait.

        Args:
            timeout: Seconds to wait at most; None waits until the request's
                own deadline.
            step_ms: Milliseconds each ``update()`` may wait for the network.

        Raises:
            RequestTimeout: Not done within ``timeout`` (the request stays
                pending), or its own deadline passed.
            RequestRefused, RequestAborted, RequestError: The request failed.
        """
        requester = self._requester
        clock = requester._clock
        give_up = math.inf if timeout is None else clock() + timeout
        while not self._settled():
            if clock() >= give_up:
                raise RequestTimeout(
                    f"no answer to {self.request_type.__name__} within {timeout:g} s "
                    "(the request is still pending)"
                )
            requester._pump(step_ms)
        return self.result()


class _AnswerRouter(Handler):
    """Routes answers, refusals and the disconnect to a :class:`Requester`.

    :meth:`RequestTypes._router_class` subclasses it with a ``net_<answer>``
    method per answer type and one for the refusal.
    """

    def __init__(self, requester: Requester) -> None:
        self.requester = requester

    def answered(self, message: Any) -> None:
        self.requester._answered(message)

    def refused(self, message: Any) -> None:
        self.requester._refused(message)

    def on_disconnect(self) -> None:
        self.requester._abort_all()


class Requester:
    """Asks requests on one connection and completes them; at most one per connection.

    It attaches a handler of its own to the connection for the answers and
    refusals; a handler of yours with ``on_receive`` sees them as well.

    Args:
        connection: The connection to ask on (open or still connecting).
        types: The :class:`RequestTypes` both sides declared.
        timeout: Default seconds before a request fails with :exc:`RequestTimeout`.
        clock: Monotonic time source in seconds for deadlines (tests drive it).
        pump: What :meth:`Request.wait` calls to make progress, with a
            timeout in milliseconds; default: the connection's host's ``update``.

    Attributes:
        connection: The connection.
        types: The request types.
        timeout: Default request timeout in seconds.

    Raises:
        LocalError: The connection already has a requester, or speaks other
            messages than ``types``.
    """

    def __init__(
        self,
        connection: Connection,
        types: RequestTypes,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        pump: Callable[[int], Any] | None = None,
    ) -> None:
        _check_timeout(timeout)
        if connection.message_factory is not types.factory:
            raise LocalError(f"{connection!r} does not use the message factory of {types!r}")
        if any(isinstance(handler, _AnswerRouter) for handler in connection.handlers()):
            raise LocalError(f"{connection!r} already has a Requester; use that one")
        self.connection = connection
        self.types = types
        self.timeout = timeout
        self._clock = clock
        self._pump: Callable[[int], Any] = pump if pump is not None else connection.parent.update
        self._pending: dict[int, Request] = {}
        self._next_id = 1
        connection.add_handler(types._router_class()(self))

    def __repr__(self) -> str:
        return f"<Requester {len(self._pending)} pending on {self.connection!r}>"

    @property
    def pending(self) -> int:
        """How many requests await their answer (timed-out ones count until looked at)."""
        return len(self._pending)

    def ask(
        self,
        request: type[Any] | str,
        *fields: Any,
        timeout: float | None = None,
        callback: Callable[[Request], Any] | None = None,
        **kwargs: Any,
    ) -> Request:
        """Send ``request`` with ``fields`` (after ``request_id``); return its :class:`Request`.

        Args:
            request: A declared request message class, or its name.
            *fields: The fields after ``request_id``.
            timeout: Seconds to wait for the answer (default: :attr:`timeout`).
            callback: Called with the :class:`Request` once it is done.
            **kwargs: Fields by name and the send options ``channel`` and
                ``delivery``; fields named ``timeout`` or ``callback`` must be
                given by position.

        Raises:
            LocalError: ``request`` is not a declared request.
            ValueError: ``timeout`` is not a positive finite number.
            MessageArgumentsError, PackError, MessageTooLargeError: As
                :meth:`Connection.send() <pygnetic.connection.Connection.send>`.
        """
        cls = self.types._resolve(request)
        self.types.answer_to(cls)
        timeout = self.timeout if timeout is None else timeout
        _check_timeout(timeout)
        request_id = self._new_id()
        self.connection.send(cls, request_id, *fields, **kwargs)
        made = Request(self, request_id, cls, timeout, self._clock() + timeout, callback)
        self._pending[request_id] = made
        return made

    def poll(self) -> int:
        """Complete the requests whose deadline passed or whose connection closed.

        Call it once per frame, after the host's ``update()``, when you rely
        on callbacks. Returns how many requests it completed.
        """
        if self.connection.close_code is not None:
            return self._abort_all()
        now = self._clock()
        overdue = [r for r in self._pending.values() if now >= r.deadline]
        for request in overdue:
            self._time_out(request)
        return len(overdue)

    # -- inside ------------------------------------------------------------------

    def _new_id(self) -> int:
        if len(self._pending) >= MAX_REQUEST_ID:
            raise LocalError("every request id is in use")
        request_id = self._next_id
        while request_id in self._pending:
            request_id = request_id % MAX_REQUEST_ID + 1
        self._next_id = request_id % MAX_REQUEST_ID + 1
        return request_id

    def _complete(self, request: Request, answer: Any, error: RequestError | None) -> None:
        del self._pending[request.request_id]
        request._answer, request._error = answer, error
        if request.callback is not None:
            request.callback(request)

    def _check(self, request: Request) -> None:
        """Settle ``request`` alone, if its connection closed or its deadline passed."""
        if self.connection.close_code is not None:
            self._complete(request, _PENDING, self._aborted(request))
        elif self._clock() >= request.deadline:
            self._time_out(request)

    def _time_out(self, request: Request) -> None:
        error = RequestTimeout(
            f"no answer to {request.request_type.__name__} within {request.timeout:g} s"
        )
        self._complete(request, _PENDING, error)

    def _aborted(self, request: Request) -> RequestAborted:
        connection = self.connection
        reason = connection.close_reason or "closed"
        return RequestAborted(
            f"the connection closed before the answer to {request.request_type.__name__}: "
            f"{reason}",
            connection.close_code,
            connection.close_reason,
        )

    def _abort_all(self) -> int:
        pending = list(self._pending.values())
        for request in pending:
            if request.request_id in self._pending:  # a callback may have settled it
                self._complete(request, _PENDING, self._aborted(request))
        return len(pending)

    def _lookup(self, request_id: Any, what: str) -> Request | None:
        request = self._pending.get(request_id) if type(request_id) is int else None
        if request is None and log.isEnabledFor(logging.DEBUG):
            log.debug("ignored a %s for no pending request (late, or unknown)", what)
        return request

    def _answered(self, message: Any) -> None:
        request = self._lookup(message[0], type(message).__name__)
        if request is None:
            return
        expected = self.types._answers[request.request_type]
        if type(message) is expected:
            self._complete(request, message, None)
        else:
            error = RequestError(
                f"{request.request_type.__name__} was answered with {type(message).__name__}, "
                f"not {expected.__name__}"
            )
            self._complete(request, _PENDING, error)

    def _refused(self, message: Any) -> None:
        request_id, code, reason = message
        request = self._lookup(request_id, "refusal")
        if request is not None:
            error = RequestRefused(_cap(reason) or "refused without a reason", _code(code))
            self._complete(request, _PENDING, error)


def _check_timeout(timeout: Any) -> None:
    if type(timeout) not in (int, float) or not 0 < timeout < math.inf:
        raise ValueError(
            f"a request timeout must be a positive number of seconds, not {timeout!r}"
        )
