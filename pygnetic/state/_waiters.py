"""Fetches and finds that wait for a value: who waits on which variable, and waking them.

A blocked ``fetch`` is a request answered late: the server keeps its reply
here until a value comes (stored through this server or, on a shared Redis,
through another, which this server hears of from the store's change
notices), its time is up, or its variable is deleted. Waking a variable
tries its finders first (each gets the value, which stays), then its
fetchers in the order they came, each taking a value from the store until
none is left. The take is the store's atomic ``dequeue``, so of several
servers woken for one value exactly one fetcher gets it; the others wait on.
"""

from __future__ import annotations

import heapq
import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._logthrottle import LogThrottle
from ..request import Reply
from ._errors import AbortedError, StateError, StateTimeoutError
from ._model import Queued
from ._outputs import Output
from ._store import Store

if TYPE_CHECKING:
    from ._server import StateHandler

__all__ = ["Waiter", "Waiters"]

Variable = tuple[str, str]  # (space key, variable name)


@dataclass(eq=False)
class Waiter:
    """One fetch or find waiting for a value.

    Attributes:
        handler: The connection that asked.
        reply: Its reply, answered with ``(data, seq)`` or refused.
        variable: ``(space key, variable name)``.
        remove: True for a fetch, False for a find.
        after: Only a value numbered above it (0: any).
        deadline: When it is refused with ``timeout`` (the server's clock); inf: never.
    """

    handler: StateHandler
    reply: Reply
    variable: Variable
    remove: bool
    after: int
    deadline: float
    done: bool = field(default=False)


class Waiters:
    """The waiting fetches and finds of one state server.

    Args:
        store: Where the values are taken from.
        log_throttle: Where a store failure is logged.
    """

    def __init__(self, store: Store, log_throttle: LogThrottle) -> None:
        self._store = store
        self._log = log_throttle
        self._by_variable: dict[Variable, list[Waiter]] = {}
        self._deadlines: list[tuple[float, int, Waiter]] = []
        self._count = 0  # breaks ties in the deadline heap
        # What the store batch being served did: the waiters it added, and
        # those it finished (given a value, or refused), in order.
        self._added: list[Waiter] = []
        self._finished: list[Waiter] = []
        self._in_batch = False
        #: Whether the store failed in the last wake (the rest then waits on).
        self.store_failed = False

    def __bool__(self) -> bool:
        return bool(self._by_variable)

    def add(self, waiter: Waiter) -> None:
        """Keep ``waiter`` until a value, its deadline or its variable's deletion."""
        self._keep(waiter)
        self._added.append(waiter)

    def _keep(self, waiter: Waiter, first: bool = False) -> None:
        waiter.done = False
        waiting = self._by_variable.setdefault(waiter.variable, [])
        if first:
            waiting.insert(0, waiter)
        else:
            waiting.append(waiter)
        waiter.handler.waiting.add(waiter)
        if waiter.deadline < math.inf:
            self._count += 1
            heapq.heappush(self._deadlines, (waiter.deadline, self._count, waiter))

    def begin(self) -> None:
        """A store batch begins: what :meth:`undo` would undo starts empty."""
        self._added.clear()
        self._finished.clear()
        self._in_batch = True

    def end(self) -> None:
        """The store batch ended (committed or undone)."""
        self._in_batch = False

    def undo(self) -> None:
        """The batch failed and the store undid it: undo what it did to the waiters.

        The waiters it added go (their requests are refused with the batch);
        those it finished wait again, first in line, since the values they
        were given are back in the store (and the deletions that aborted
        them undone), while their answers are dropped with the batch's.
        """
        for waiter in self._added:
            if not waiter.done:
                self._remove(waiter)
        for waiter in reversed(self._finished):
            if waiter not in self._added and waiter.handler.connection.connected:
                self._keep(waiter, first=True)
        self._added.clear()
        self._finished.clear()

    def counts(self, variable: Variable) -> tuple[int, int]:
        """Return ``(fetchers, finders)`` waiting on ``variable`` here."""
        waiting = self._by_variable.get(variable, ())
        fetchers = sum(1 for w in waiting if w.remove)
        return fetchers, len(waiting) - fetchers

    def wake(self, variable: Variable) -> list[Output]:
        """Serve what waits on ``variable`` from the store; return the answers to send.

        Call it inside the store batch of the write that woke it, so that the
        values taken are committed with it before the answers leave. A
        waiter whose connection is closing is dropped, not given a value it
        would lose. On a store that keeps each write as it is made (Redis),
        a store failure ends the waking but keeps what it served: the
        values taken are answered, the others wait on and are looked at
        again by :meth:`wake_all`. On a transactional one it fails the batch.
        """
        waiting = self._by_variable.get(variable)
        if not waiting:
            return []
        for waiter in [w for w in waiting if not w.handler.connection.connected]:
            self._remove(waiter)
        key, name = variable
        outputs: list[Output] = []
        try:
            for waiter in [w for w in self._by_variable.get(variable, ()) if not w.remove]:
                found = self._store.peek(key, name, waiter.after)
                if found is not None:
                    outputs.append(self._finish(waiter, found))
            for waiter in [w for w in self._by_variable.get(variable, ()) if w.remove]:
                taken = self._store.dequeue(key, name)
                if taken is None:
                    break
                outputs.append(self._finish(waiter, taken))
        except self._store.failures:
            if self._store.transactional and self._in_batch:
                raise
            self._failed()
        return outputs

    def wake_all(self) -> list[Output]:
        """Wake every variable something waits on (notices may have been lost)."""
        outputs: list[Output] = []
        self.store_failed = False
        for variable in list(self._by_variable):
            outputs += self.wake(variable)
            if self.store_failed:  # no round trip more to a store that is down
                break
        return outputs

    def abort(self, space_key: str, name: str | None, why: str) -> list[Output]:
        """Refuse what waits on a deleted variable (``name`` None: the whole space)."""
        variables = (
            [v for v in self._by_variable if v[0] == space_key]
            if name is None
            else [(space_key, name)]
        )
        error = AbortedError(why)
        return [
            self._finish(waiter, error)
            for variable in variables
            for waiter in list(self._by_variable.get(variable, ()))
        ]

    def expire(self, now: float) -> list[Output]:
        """Refuse the waiters whose time is up."""
        outputs = []
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, _, waiter = heapq.heappop(deadlines)
            if not waiter.done:
                outputs.append(
                    self._finish(waiter, StateTimeoutError("no value came in the time given"))
                )
        return outputs

    def cancel(self, handler: StateHandler, request_id: Any) -> list[Output]:
        """Refuse ``handler``'s waiting fetch or find ``request_id``, if it still waits."""
        for waiter in list(handler.waiting):
            if waiter.reply.request.request_id == request_id:
                return [self._finish(waiter, AbortedError("cancelled by the client"))]
        return []

    def forget(self, handler: StateHandler) -> None:
        """Drop the waiters of a connection that ended (nothing is sent)."""
        for waiter in list(handler.waiting):
            self._remove(waiter)

    def changed_elsewhere(self, changed: list[tuple[str, str]]) -> list[Output]:
        """Wake, or abort, what waits on variables another server changed.

        ``(space key, '')`` is a deleted space. A variable that no longer
        exists was deleted (a value stored, fetched or found leaves it there).
        """
        outputs: list[Output] = []
        for space_key, name in changed:
            if not name:
                outputs += self.abort(space_key, None, "the workspace was deleted")
            elif (space_key, name) in self._by_variable:
                try:
                    deleted = self._store.mode(space_key, name) is None
                except self._store.failures:
                    self._failed()
                    break  # what is served so far is answered; the rest waits on
                if deleted:
                    outputs += self.abort(space_key, name, f"{name!r} was deleted")
                else:
                    outputs += self.wake((space_key, name))
        return outputs

    def _failed(self) -> None:
        self.store_failed = True
        self._log.log(
            logging.ERROR,
            "store failed",
            "the store failed while serving waiting fetches; they wait on",
            exc_info=True,
        )

    def _finish(self, waiter: Waiter, result: Queued | StateError) -> Output:
        self._remove(waiter)
        if self._in_batch:  # for undo(); outside a batch nothing is undone
            self._finished.append(waiter)
        reply = waiter.reply
        if isinstance(result, StateError):
            reason, code = str(result), result.code
            return lambda: reply.refuse(reason, code)
        data, seq = result.data, result.seq
        return lambda: reply.answer(data, seq)

    def _remove(self, waiter: Waiter) -> None:
        waiter.done = True
        waiter.handler.waiting.discard(waiter)
        waiting = self._by_variable.get(waiter.variable)
        if waiting is not None:
            waiting.remove(waiter)
            if not waiting:
                del self._by_variable[waiter.variable]
        if not self._by_variable:
            self._deadlines.clear()  # what is left in the heap is done
