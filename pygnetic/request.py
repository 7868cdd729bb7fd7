"""Requests and answers: ask a peer, and get its answer, its refusal or a timeout.

Many exchanges are questions: "list the servers", "register me", "what is the
value of this key?". This module matches each answer to its question by a
request id, gives every question a deadline, carries refusals with a reason,
and fails what is pending when the connection ends. It is sans-I/O: it sends
and receives ordinary pygnetic messages through a
:class:`~pygnetic.connection.Connection`, never sleeps and starts no thread.

Declaring the messages
----------------------

Both sides declare the same messages, in the same order, as usual. Every
request and every answer has ``request_id`` as its first field; a
:class:`RequestTypes` registers one more message, the refusal
``refused(request_id, code, reason)``, and says which answer each request gets::

    messages = pygnetic.MessageFactory('msgpack')
    get_score = messages.register('get_score', ('request_id', 'player'))
    score = messages.register('score', ('request_id', 'points'))
    requests = RequestTypes(messages)      # registers 'refused'
    requests.add(get_score, score)         # get_score is answered with score

Answering
---------

Decorate a handler method named ``net_<request name>`` with
:meth:`RequestTypes.answers`. It returns the answer's fields after
``request_id``, as a tuple, or raises :exc:`RequestRefused` to refuse::

    class ScoreHandler(pygnetic.Handler):
        @requests.answers(get_score)
        def net_get_score(self, message):
            if message.player not in scores:
                raise RequestRefused('no such player', code='unknown')
            return (scores[message.player],)

A method that cannot answer at once takes ``deferred=True`` and a third
argument, a :class:`Reply`, to answer (or refuse) later, from any code that
runs in the game loop::

        @requests.answers(get_turn, deferred=True)
        def net_get_turn(self, message, reply):
            self.waiting.append(reply)      # later: reply.answer(turn_number)

Asking
------

A :class:`Requester` asks on one connection. :meth:`Requester.ask` sends at
once and returns a :class:`Request`; the answer arrives during a later
``update()``::

    asker = Requester(connection, requests)
    request = asker.ask(get_score, 'Tom', callback=show)    # show(request) when done
    while playing:
        client.update(16)
        asker.poll()                    # times out what is overdue, runs callbacks
        if request.done and request.error is None:
            points = request.result().points

Scripts and tests may block instead: :meth:`Request.wait` calls the host's
``update()`` until the request is done::

    points = asker.ask(get_score, 'Tom').wait(5).points

When a request completes
------------------------

A request is *done* once it has an outcome: the answer message, or one of
the errors below; its ``callback`` then runs, once. Nothing completes behind
your back, outside the game loop:

* an answer or a refusal completes it while the host's ``update()``
  dispatches the message;
* the end of the connection fails every pending request with
  :exc:`RequestAborted`, naming the close reason, in the ``update()`` that
  notices the end;
* the deadline (``timeout`` seconds after :meth:`~Requester.ask`, by the
  requester's ``clock``) fails it with :exc:`RequestTimeout` at the first
  :meth:`Requester.poll` after the deadline, or the first look at the request
  itself (:attr:`~Request.done`, :attr:`~Request.error`,
  :meth:`~Request.result`, :meth:`~Request.wait`). A late answer is ignored.

So a loop that checks ``request.done`` needs nothing else; a loop that relies
on callbacks calls :meth:`Requester.poll` once per frame.

Limits
------

Request ids are ints from 1 to :data:`MAX_REQUEST_ID`, unique among a
connection's pending requests. What arrives from the peer is checked: a
refusal's reason is cut to :data:`MAX_REASON_LENGTH` characters and its code
to :data:`MAX_CODE_LENGTH`, with unprintable characters replaced. The
answering side refuses, with the code :data:`BUSY`, a request that would give
the peer more than ``max_pending`` deferred replies at once
(:data:`DEFAULT_MAX_PENDING`); it refuses a malformed request (a bad
``request_id``, or a handler raising :exc:`~pygnetic.errors.MessageError`)
with the code :data:`INVALID`, and closes a connection after ``max_invalid``
of those (:data:`DEFAULT_MAX_INVALID`) with
:attr:`CloseCode.PROTOCOL_ERROR <pygnetic.protocol.CloseCode.PROTOCOL_ERROR>`.

Errors
------

Every failed request's error is a :exc:`RequestError`: :exc:`RequestRefused`
(with ``reason`` and ``code``), :exc:`RequestTimeout` (also a
``TimeoutError``) or :exc:`RequestAborted` (with the connection's
``close_code`` and ``close_reason``). An answer of the wrong message type
fails the request with a plain :exc:`RequestError`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import LocalError, MessageError, PygneticError, RegistryError
from .handler import Handler
from .protocol import CloseCode

if TYPE_CHECKING:
    from .connection import Connection
    from .message import MessageFactory

__all__ = [
    "BUSY",
    "DEFAULT_MAX_INVALID",
    "DEFAULT_MAX_PENDING",
    "DEFAULT_TIMEOUT",
    "INTERNAL",
    "INVALID",
    "MAX_CODE_LENGTH",
    "MAX_REASON_LENGTH",
    "MAX_REQUEST_ID",
    "Reply",
    "Request",
    "RequestAborted",
    "RequestError",
    "RequestRefused",
    "RequestTimeout",
    "RequestTypes",
    "Requester",
]

log = logging.getLogger("pygnetic.request")

#: Seconds a request waits for its answer unless told otherwise.
DEFAULT_TIMEOUT = 10.0
#: Deferred replies one connection may have outstanding before more requests are refused.
DEFAULT_MAX_PENDING = 32
#: Malformed requests after which the answering side closes the connection.
DEFAULT_MAX_INVALID = 16
#: Largest request id; ids run from 1 to this and then start again.
MAX_REQUEST_ID = 2**31 - 1
#: Longest refusal reason kept, in characters (sent and received).
MAX_REASON_LENGTH = 500
#: Longest refusal code kept, in characters, when it is a str.
MAX_CODE_LENGTH = 32

#: Refusal code of a malformed request (bad ``request_id``, or ``MessageError``).
INVALID = "invalid"
#: Refusal code of a request over the ``max_pending`` limit.
BUSY = "busy"
#: Refusal code sent when the answering method raised an unexpected exception.
INTERNAL = "internal"

Code = str | int | None
_CODE_RANGE = 2**31


# -- errors ----------------------------------------------------------------------


class RequestError(PygneticError):
    """A request ended without a usable answer.

    Raised as such when the peer answered with a message of the wrong type;
    the subclasses say the other reasons.
    """


class RequestRefused(RequestError):
    """The peer refused the request; raise it in an answering method to refuse.

    Args:
        reason: Short text for people; cut to :data:`MAX_REASON_LENGTH`.
        code: Short token for programs (a str of at most
            :data:`MAX_CODE_LENGTH` characters, or an int), or None.

    Attributes:
        reason: Why, as the peer said it (``str(error)`` is the same).
        code: The peer's code, or None.
    """

    def __init__(self, reason: str, code: Code = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code

    def __repr__(self) -> str:
        return f"RequestRefused({self.reason!r}, code={self.code!r})"


class RequestTimeout(RequestError, TimeoutError):
    """No answer arrived before the request's deadline, or before ``wait()`` gave up."""


class RequestAborted(RequestError):
    """The connection closed before the answer arrived.

    Attributes:
        close_code: The connection's :class:`~pygnetic.protocol.CloseCode`.
        close_reason: The connection's ``close_reason``.
    """

    def __init__(
        self, message: str, close_code: CloseCode | None, close_reason: str | None
    ) -> None:
        super().__init__(message)
        self.close_code = close_code
        self.close_reason = close_reason


# -- declaring -------------------------------------------------------------------


class RequestTypes:
    """Which messages of a factory are requests, and which answer each gets.

    Registers the refusal message ``<refusal>(request_id, code, reason)`` in
    ``factory`` at once, so make it where the other messages are registered,
    before any connection uses the factory, identically on both sides.

    Args:
        factory: The :class:`~pygnetic.message.MessageFactory` of the messages.
        refusal: Name of the refusal message.
        max_pending: Deferred replies a peer may have outstanding on one
            connection; further requests are refused with :data:`BUSY`.
        max_invalid: Malformed requests after which the answering side closes
            the connection; None never closes it.

    Attributes:
        factory: The message factory.
        refusal: The refusal message class.
        max_pending: As given.
        max_invalid: As given.

    Raises:
        RegistryError: The factory is frozen, or ``refusal`` is taken.
    """

    def __init__(
        self,
        factory: MessageFactory,
        *,
        refusal: str = "refused",
        max_pending: int = DEFAULT_MAX_PENDING,
        max_invalid: int | None = DEFAULT_MAX_INVALID,
    ) -> None:
        if type(max_pending) is not int or max_pending < 1:
            raise ValueError(f"max_pending must be an int >= 1, not {max_pending!r}")
        if max_invalid is not None and (type(max_invalid) is not int or max_invalid < 1):
            raise ValueError(f"max_invalid must be None or an int >= 1, not {max_invalid!r}")
        self.factory = factory
        self.refusal = factory.register(refusal, ("request_id", "code", "reason"))
        self.max_pending = max_pending
        self.max_invalid = max_invalid
        self._answers: dict[type[Any], type[Any]] = {}
        self._router: type[_AnswerRouter] | None = None

    def __repr__(self) -> str:
        pairs = ", ".join(f"{q.__name__}->{a.__name__}" for q, a in self._answers.items())
        return f"<RequestTypes {pairs}>"

    def _resolve(self, message: type[Any] | str) -> type[Any]:
        name = message if isinstance(message, str) else getattr(message, "__name__", "")
        try:
            cls = self.factory.get_by_name(name)
        except KeyError:
            cls = None
        if cls is None or (not isinstance(message, str) and cls is not message):
            raise RegistryError(f"{message!r} is not a message of this factory")
        return cls

    def _message(self, message: type[Any] | str, role: str) -> type[Any]:
        cls = self._resolve(message)
        if cls._fields[:1] != ("request_id",):
            raise RegistryError(
                f"{role} {cls.__name__} must have request_id as its first field, not {cls._fields}"
            )
        return cls

    def add(self, request: type[Any] | str, answer: type[Any] | str) -> None:
        """Declare that ``request`` is answered with ``answer`` (classes or names).

        Several requests may share one answer type.

        Raises:
            RegistryError: Either is not a message of the factory, lacks
                ``request_id`` as its first field, or ``request`` is already
                declared or is the refusal.
        """
        request_cls = self._message(request, "request")
        answer_cls = self._message(answer, "answer")
        if request_cls in self._answers or self.refusal in (request_cls, answer_cls):
            raise RegistryError(f"{request_cls.__name__} cannot be declared as a request again")
        self._answers[request_cls] = answer_cls
        self._router = None

    def answer_to(self, request: type[Any] | str) -> type[Any]:
        """Return the answer class declared for ``request``.

        Raises:
            LocalError: ``request`` was not declared with :meth:`add`
                (:exc:`~pygnetic.errors.RegistryError`: not even a message).
        """
        cls = self._resolve(request)
        try:
            return self._answers[cls]
        except KeyError:
            raise LocalError(
                f"{request!r} is not a declared request (see RequestTypes.add)"
            ) from None

    def answers(
        self, request: type[Any] | str, *, deferred: bool = False
    ) -> Callable[[Callable[..., Any]], Callable[[Handler, Any], None]]:
        """Decorate the handler method ``net_<request name>`` that answers ``request``.

        The method is called as ``method(self, message)`` and returns the
        answer's fields after ``request_id`` as a tuple (``()`` when there
        are none); with ``deferred=True`` it is called as ``method(self,
        message, reply)`` and answers through the :class:`Reply`, now or
        later. Either way, raising :exc:`RequestRefused` refuses the request,
        raising :exc:`~pygnetic.errors.MessageError` refuses it as malformed
        (:data:`INVALID`, counted against ``max_invalid``), and any other
        exception refuses it with :data:`INTERNAL` (no detail goes to the
        peer) and then propagates out of ``update()``, like every handler
        exception.

        Raises:
            LocalError: ``request`` was not declared.
            TypeError: The decorated method is not named ``net_<request name>``.
        """
        cls = self._resolve(request)
        answer_cls = self.answer_to(cls)
        expected = "net_" + cls.__name__

        def decorate(method: Callable[..., Any]) -> Callable[[Handler, Any], None]:
            if getattr(method, "__name__", None) != expected:
                raise TypeError(
                    f"@answers({cls.__name__}) must decorate a method named {expected}, "
                    f"not {getattr(method, '__name__', method)!r}"
                )

            def net_request(handler: Handler, message: Any) -> None:
                self._serve(handler, message, method, answer_cls, deferred)

            # No functools.wraps: its __wrapped__ would show the method's own
            # signature to the handler machinery, which calls net_request.
            net_request.__name__ = method.__name__
            net_request.__qualname__ = getattr(method, "__qualname__", expected)
            net_request.__doc__ = method.__doc__
            net_request.__module__ = method.__module__
            return net_request

        return decorate

    def refuse_invalid(self, handler: Handler, request_id: Any, reason: str) -> None:
        """Refuse a malformed message on ``handler``'s connection, counting it.

        For what an answering method does not see, e.g. a message that is
        not a request at all. Counts against ``max_invalid`` like a
        :exc:`~pygnetic.errors.MessageError` raised by an answering method.
        """
        if not _valid_id(request_id):
            request_id = None
        handler.connection.send(self.refusal, request_id, INVALID, _cap(reason))
        self._count_invalid(handler, reason)

    # -- the answering side --------------------------------------------------------

    def _serve(
        self,
        handler: Handler,
        message: Any,
        method: Callable[..., Any],
        answer: type[Any],
        deferred: bool,
    ) -> None:
        request_id = message[0]
        name = type(message).__name__
        if not _valid_id(request_id):
            reason = f"{name}: request_id must be an int from 0 to {MAX_REQUEST_ID}"
            self.refuse_invalid(handler, None, reason)
            return
        state = _served(handler)
        if deferred and state.pending >= self.max_pending:
            handler.connection.send(
                self.refusal,
                request_id,
                BUSY,
                f"too many pending requests (limit {self.max_pending})",
            )
            return
        reply = Reply(self, handler, message, answer, deferred)
        try:
            if deferred:
                method(handler, message, reply)
            else:
                fields = method(handler, message)
                if not isinstance(fields, tuple):
                    raise TypeError(
                        f"{getattr(method, '__qualname__', method)} must return the fields "
                        f"of {answer.__name__} after request_id as a tuple, "
                        f"not {type(fields).__name__}"
                    )
                reply.answer(*fields)
        except RequestRefused as refused:
            if reply.done:
                raise
            reply.refuse(refused.reason, refused.code)
        except MessageError as invalid:
            if reply.done:
                raise
            reply.refuse(str(invalid), INVALID)
            self._count_invalid(handler, str(invalid))
        except BaseException:
            if not reply.done:
                reply.refuse(f"the peer failed to answer {name}", INTERNAL)
            raise

    def _count_invalid(self, handler: Handler, reason: str) -> None:
        state = _served(handler)
        state.invalid += 1
        connection = handler.connection
        if log.isEnabledFor(logging.DEBUG):
            log.debug("invalid request from %s:%s: %.500s", *connection.address, reason)
        limit = self.max_invalid
        if limit is not None and state.invalid >= limit and connection.connected:
            log.warning(
                "closing the connection from %s:%s: %d invalid requests",
                *connection.address,
                limit,
            )
            connection.close(CloseCode.PROTOCOL_ERROR, "too many invalid requests")

    # -- the asking side -----------------------------------------------------------

    def _router_class(self) -> type[_AnswerRouter]:
        """The handler class a :class:`Requester` attaches: one method per answer type."""
        if self._router is None:
            methods: dict[str, Any] = {
                "net_" + cls.__name__: _AnswerRouter.answered
                for cls in set(self._answers.values())
            }
            methods["net_" + self.refusal.__name__] = _AnswerRouter.refused
            self._router = type("AnswerRouter", (_AnswerRouter,), methods)
        return self._router


class _Served:
    """What the answering side keeps per connection (on the handler)."""

    __slots__ = ("invalid", "pending")

    def __init__(self) -> None:
        self.pending = 0
        self.invalid = 0


def _served(handler: Handler) -> _Served:
    state: _Served | None = vars(handler).get("_pygnetic_served")
    if state is None:
        state = vars(handler)["_pygnetic_served"] = _Served()
    return state


def _valid_id(request_id: Any) -> bool:
    return type(request_id) is int and 0 <= request_id <= MAX_REQUEST_ID


def _cap(text: Any, limit: int = MAX_REASON_LENGTH) -> str:
    """Return ``text`` as a printable str of at most ``limit`` characters ('' if not a str)."""
    if type(text) is not str:
        return ""
    text = text[:limit]
    if not text.isprintable():
        text = "".join(char if char.isprintable() else "?" for char in text)
    return text


def _code(code: Any) -> Code:
    """Return a received refusal code as kept: a short str, a bounded int, or None."""
    if type(code) is int and -_CODE_RANGE < code < _CODE_RANGE:
        return code
    return _cap(code, MAX_CODE_LENGTH) or None


class Reply:
    """The answering side's handle on one request; answer or refuse it once.

    Made by :meth:`RequestTypes.answers` and given to deferred answering
    methods, which may keep it and answer later (inside the game loop).
    Until then it counts against the connection's ``max_pending``.

    Attributes:
        request: The request message.
        connection: Proxy to the connection to answer on.
        done: True once answered or refused.
    """

    def __init__(
        self,
        types: RequestTypes,
        handler: Handler,
        request: Any,
        answer: type[Any],
        deferred: bool,
    ) -> None:
        self.request = request
        self.connection = handler.connection
        self.done = False
        self._types = types
        self._answer = answer
        self._state: _Served | None = _served(handler) if deferred else None
        if self._state is not None:
            self._state.pending += 1

    def __repr__(self) -> str:
        state = "done" if self.done else "pending"
        return f"<Reply to {type(self.request).__name__} {self.request[0]}: {state}>"

    def _finish(self) -> None:
        if self.done:
            raise LocalError(
                f"{type(self.request).__name__} {self.request[0]} is already answered"
            )
        self.done = True
        if self._state is not None:
            self._state.pending -= 1

    def answer(self, *fields: Any, **kwargs: Any) -> bool:
        """Send the answer: its fields after ``request_id``, by position or name.

        Returns True if it was queued, False if the connection has closed.

        Raises:
            LocalError: Already answered or refused.
            MessageArgumentsError: The fields do not fit the answer message.
        """
        self._finish()
        return self.connection.send(self._answer, self.request[0], *fields, **kwargs)

    def refuse(self, reason: str, code: Code = None) -> bool:
        """Refuse the request; ``reason`` is cut to :data:`MAX_REASON_LENGTH`.

        Returns True if the refusal was queued, False if the connection has closed.

        Raises:
            LocalError: Already answered or refused.
            TypeError: ``code`` is not a str, an int or None.
        """
        if code is not None and type(code) not in (str, int):
            raise TypeError(f"a refusal code must be a str, an int or None, not {code!r}")
        self._finish()
        if isinstance(code, str):
            code = code[:MAX_CODE_LENGTH]
        return self.connection.send(
            self._types.refusal, self.request[0], code, str(reason)[:MAX_REASON_LENGTH]
        )


# -- asking ----------------------------------------------------------------------

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
