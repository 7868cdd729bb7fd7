"""The answering side of :mod:`pygnetic.request`: :class:`RequestTypes` and :class:`Reply`.

Import these names from :mod:`pygnetic.request`, which re-exports them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._request_asking import _AnswerRouter
from ._request_common import (
    BUSY,
    DEFAULT_MAX_INVALID,
    DEFAULT_MAX_PENDING,
    INTERNAL,
    INVALID,
    MAX_CODE_LENGTH,
    MAX_REASON_LENGTH,
    MAX_REQUEST_ID,
    Code,
    RequestRefused,
    _cap,
)
from .errors import LocalError, MessageError, RegistryError
from .handler import Handler
from .protocol import CloseCode

if TYPE_CHECKING:
    from .message import MessageFactory

__all__ = ["Reply", "RequestTypes"]

log = logging.getLogger("pygnetic.request")


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
