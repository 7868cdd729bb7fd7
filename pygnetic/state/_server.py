"""The state server: a pygnetic server that answers state requests from a store.

Each connection's requests wait in its own queue and are answered in the
order they came. :meth:`StateServer.update` first does the network work, then
serves the queues in rounds (one request of each waiting connection per
round), each round in one store batch: the answers of a round leave only
after its writes are committed. Rounds stop when ``serve_ms`` is spent, so a
flood of requests costs any one ``update()`` a bounded time; the rest waits
for the next.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .._handshakes import AuthFailures, address_key
from .._logthrottle import LogThrottle
from ..handler import Handler
from ..request import Reply
from ..server import Server
from ._dicts import DICT_OPERATIONS
from ._errors import (
    AbortedError,
    InvalidRequestError,
    LoginError,
    QuotaError,
    StateError,
    UnexpectedError,
)
from ._model import WORKSPACE, Space, StateLimits
from ._outputs import Output, nothing, then
from ._protocol import (
    CANCEL,
    CREATE_ACCOUNT,
    DELETE_SPACE,
    FETCH,
    GET,
    JOIN,
    LOGIN,
    MEMBER,
    NEW_SPACE,
    PUT,
    REMOVE,
    REQUESTS,
    STATE_ADAPTER,
    STATE_PORT,
    UNWATCH,
    VERSION,
    WATCH,
    WRITES,
    state_messages,
    state_requests,
)
from ._service import WATCHABLE, StateService
from ._sqlite import SQLiteStore
from ._store import Store
from ._waiters import Waiter, Waiters
from ._watches import Watches
from ._workspaces import WORKSPACE_OPERATIONS, purge_owned

__all__ = ["DEFAULT_DATABASE", "StateHandler", "StateServer"]

log = logging.getLogger("pygnetic.state")

#: The SQLite file a StateServer made without a store uses, in the working directory.
DEFAULT_DATABASE = "pygnetic-state.db"
#: Seconds a failed login's refusal is held back, and the connection's later requests.
LOGIN_DELAY = 1.0
#: Failed logins per minute for one account from one address, and for one address
#: whatever the account, before more are refused. Counted per address, so that a
#: guesser elsewhere cannot lock an account's owner out.
MAX_FAILED_LOGINS = 5
MAX_FAILED_LOGINS_PER_ADDRESS = 20
#: Accounts one address may try to create per minute (each costs a scrypt).
MAX_NEW_ACCOUNTS_PER_ADDRESS = 20
#: Workspaces and dictionaries without an owner (never purged) one address
#: may make per minute.
MAX_UNOWNED_SPACES_PER_ADDRESS = 60


class StateHandler(Handler):
    """Serves one connection of a :class:`StateServer`; its requests wait in :attr:`jobs`.

    Attributes:
        user: The email this connection logged in as, or None.
        jobs: Its requests not answered yet, oldest first.
        watching: The keys it watches, as ``(space key, key)``.
    """

    server: StateServer  # type: ignore[assignment]

    def __init__(self) -> None:
        self.user: str | None = None
        self.jobs: deque[Reply] = deque()
        self.watching: set[tuple[str, str]] = set()
        self.hold_until = 0.0
        self.held: Output | None = None
        #: The fetches and finds of this connection waiting for a value.
        self.waiting: set[Waiter] = set()
        #: The workspaces this connection owns (their store keys).
        self.owned: set[str] = set()
        #: What owns a workspace this connection opened: unique to the connection.
        self.owner_token = ""
        #: The writer of this connection's dictionary writes (``identify`` sets it).
        self.holder = ""

    def on_connect(self) -> None:
        """Give the connection its owner token, which is also its writer until ``identify``."""
        self.owner_token = self.holder = self.server._new_owner_token()

    @property
    def address_key(self) -> str:
        """The connection's address as failures are counted: its IP, an IPv6 /64."""
        return address_key(str(self.connection.address[0]))

    @property
    def peer(self) -> str:
        """``HOST:PORT`` of the connection, for log lines."""
        host, port = self.connection.address
        return f"{host}:{port}"

    def queue(self, message: Any, reply: Reply) -> None:
        """Queue a request (every ``net_<request>`` method calls this)."""
        if not self.jobs and self.held is None:
            self.server._ready.append(self)
        self.jobs.append(reply)

    def on_disconnect(self) -> None:
        """Forget the connection's queue and watches."""
        self.server._forget_handler(self)

    @state_requests.answers("cancel")
    def net_cancel(self, message: Any) -> tuple[()]:
        """End a waiting fetch or find of this connection at once (not queued, never busy)."""
        self.server._cancel(self, message.fetch_id)
        return ()

    def on_receive(self, message: Any, **kwargs: Any) -> None:
        """Refuse the messages only the service sends, as invalid requests."""
        if type(message) in REQUESTS:
            return
        name = type(message).__name__
        self.server.log_throttle.warning(
            "not a request", "invalid %s from %s: not a request", name, self.peer
        )
        state_requests.refuse_invalid(self, None, f"{name} is not a request")


def _queued(name: str) -> Callable[[Handler, Any], None]:
    def method(self: StateHandler, message: Any, reply: Reply) -> None:
        self.queue(message, reply)

    method.__name__ = method.__qualname__ = "net_" + name
    method.__doc__ = f"Queue a ``{name}`` request."
    return state_requests.answers(name, deferred=True)(method)


for _request in REQUESTS - {CANCEL}:
    setattr(StateHandler, "net_" + _request.__name__, _queued(_request.__name__))


class StateServer(Server):
    """The state service: answers :class:`~pygnetic.state.DistributedState` and the other APIs.

    Pump :meth:`update` from a loop (a game server's own loop will do), or
    call :meth:`serve_forever`. ``python -m pygnetic.state`` runs one.

    Args:
        store: Where the data lives; default: a :class:`~pygnetic.state.SQLiteStore`
            on :data:`DEFAULT_DATABASE`, which the server closes with itself
            (a store you give stays open).
        host: Interface to listen on (``''``: all of them).
        port: Port to listen on; 0 picks a free one (see :attr:`address`).
        limits: What clients may store (:class:`~pygnetic.state.StateLimits`).
        open_accounts: Whether clients may create accounts with
            ``create_account()``; False leaves it to the ``account`` command.
        conn_limit: Most connections at once.
        adapter: Network adapter; clients must use the same one.
        timeout: Seconds of silence after which a connection is dropped.
        serve_ms: Milliseconds of serving requests per :meth:`update`.
        clock: Monotonic time source in seconds (tests drive it).
        wall_clock: Wall-clock time in seconds, for leases, which servers
            sharing a store must agree on (tests drive it).
        **server_options: Passed on to :class:`~pygnetic.server.Server`
            (e.g. ``rate_limit``) and to its adapter.

    Attributes:
        service: The :class:`~pygnetic.state._service.StateService` doing the work.
        store: The store.
        limits: The limits in force.
    """

    handler = StateHandler

    def __init__(
        self,
        store: Store | None = None,
        host: str = "127.0.0.1",
        port: int = STATE_PORT,
        *,
        limits: StateLimits | None = None,
        open_accounts: bool = True,
        conn_limit: int = 256,
        adapter: str | ModuleType | None = STATE_ADAPTER,
        timeout: float = 30.0,
        serve_ms: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        **server_options: Any,
    ) -> None:
        if not serve_ms > 0:
            raise ValueError(f"serve_ms must be > 0, not {serve_ms!r}")
        self._owns_store = store is None
        self.store = store if store is not None else SQLiteStore(DEFAULT_DATABASE)
        self.limits = limits if limits is not None else StateLimits()
        self.service = StateService(self.store, self.limits, open_accounts=open_accounts)
        #: The watches of this server's clients.
        self.watches = Watches(self.service, self.limits.max_watches)
        self.wall_clock = wall_clock
        self._owners = 0
        self._run = secrets.token_hex(4)
        self._wake_descriptor: int | None = None
        self._next_look_again = 0.0
        self.serve_ms = serve_ms
        self.log_throttle = LogThrottle(log, clock=clock)
        #: The fetches and finds waiting for a value.
        self.waiters = Waiters(self.store, self.log_throttle)
        self._ready: deque[StateHandler] = deque()
        self._held: list[StateHandler] = []
        self._failed_logins = AuthFailures(MAX_FAILED_LOGINS)
        self._failed_addresses = AuthFailures(MAX_FAILED_LOGINS_PER_ADDRESS)
        self._new_accounts = AuthFailures(MAX_NEW_ACCOUNTS_PER_ADDRESS)
        self._new_unowned = AuthFailures(MAX_UNOWNED_SPACES_PER_ADDRESS)
        self._stopping = False
        self._hearing = False  # whether the store reports changes, not only deletions
        self._next_look = 0.0
        try:
            super().__init__(
                host,
                port,
                conn_limit,
                message_factory=state_messages,
                adapter=adapter,
                timeout=timeout,
                events=False,
                clock=clock,
                **server_options,
            )
        except BaseException:
            if self._owns_store:
                self.store.close()
            raise
        self.add_updater(self._serve)
        spaces = self.store.spaces()
        self.temp_counter = len(spaces)  # fewer names for mktemp to try past
        if not self.store.shared:
            self._purge_orphans(spaces)

    def __repr__(self) -> str:
        host, port = self.address
        return f"<StateServer {host}:{port} on {self.store!r}>"

    def serve_forever(self, poll_ms: int = 100) -> None:
        """Call :meth:`update` until :meth:`stop` is called (from a handler or a signal)."""
        self._stopping = False
        while not self._stopping:
            self.update(poll_ms)

    def stop(self) -> None:
        """Make :meth:`serve_forever` return after its current ``update()``."""
        self._stopping = True

    def close(self, linger_ms: int = 100) -> None:
        """Close the connections and the listening socket, then the store if the server made it."""
        try:
            super().close(linger_ms)
        finally:
            if self._owns_store:
                self.store.close()

    # -- serving -------------------------------------------------------------------

    def _serve(self) -> None:
        """Answer queued requests for at most ``serve_ms``; runs near the end of update()."""
        now = self._clock()
        if self._held:
            self._release_held(now)
        if self.waiters:
            self._run_outputs(self.waiters.expire(now))
        self._watch_elsewhere()
        give_up = time.perf_counter() + self.serve_ms / 1000
        while self._ready and time.perf_counter() < give_up:
            self._serve_batch(now, give_up)

    def _serve_batch(self, now: float, give_up: float) -> None:
        """One batch: the oldest request of each ready connection in turn, until time is up.

        The connections not reached stay first in line for the next batch.
        """
        ready = self._ready
        outputs: list[Output] = []
        served: list[tuple[StateHandler, Reply]] = []
        writes = any(type(h.jobs[0].request) in WRITES for h in ready if h.jobs)
        self.waiters.begin()
        try:
            with self.store.batch(writes):
                for _ in range(len(ready)):
                    handler = ready.popleft()
                    if not handler.jobs:  # its connection ended while it waited
                        continue
                    reply = handler.jobs.popleft()
                    served.append((handler, reply))
                    outputs.append(self._serve_one(handler, reply, now))
                    if time.perf_counter() >= give_up:
                        break
        except Exception as exc:
            if not served:  # the batch could not even begin
                served = [(handler, handler.jobs.popleft()) for handler in ready if handler.jobs]
                ready.clear()
            # A transactional store kept nothing of the batch: refuse all of
            # it. Another kept what was done before the failing request.
            refused = served if self.store.transactional else served[len(outputs) :]
            if self.store.transactional:
                outputs = []
                self.waiters.undo()  # their values are back in the store: they wait on
            self.log_throttle.log(
                logging.ERROR,
                "store failed",
                "the store failed (%s: %.200s); refused %d request(s)",
                type(exc).__name__,
                str(exc),
                len(refused),
                exc_info=True,
            )
            failed = UnexpectedError("the state service's store failed; try again")
            for handler, reply in refused:
                handler.held = None  # a held login refusal must not follow this one
                outputs.append(_refusal(reply, failed))
        self.waiters.end()
        self._run_outputs(outputs)
        for handler, _ in served:
            if handler.held is not None:
                self._held.append(handler)
            elif handler.jobs and handler.connection.connected:
                ready.append(handler)

    def _serve_one(self, handler: StateHandler, reply: Reply, now: float) -> Output:
        message = reply.request
        try:
            return _OPERATIONS[type(message)](self, handler, message, reply, now)
        except InvalidRequestError as exc:
            name, reason = type(message).__name__, str(exc)
            self.log_throttle.info(
                "invalid", "invalid %s from %s: %.200s", name, handler.peer, reason
            )
            return lambda: _refuse_invalid(handler, reply, reason)
        except StateError as exc:
            return _refusal(reply, exc)
        except self.store.failures:
            raise  # the whole batch fails: see _serve_batch
        except Exception:
            # A fault of ours, met before the store wrote anything for this
            # request (the service checks everything first): it alone fails.
            name = type(message).__name__
            self.log_throttle.log(
                logging.ERROR,
                "fault",
                "failed to serve %s from %s",
                name,
                handler.peer,
                exc_info=True,
            )
            return _refusal(reply, UnexpectedError(f"the service failed to serve {name}"))

    def _release_held(self, now: float) -> None:
        still = []
        for handler in self._held:
            if handler.hold_until > now:
                still.append(handler)
                continue
            held, handler.held = handler.held, None
            if held is not None and handler.connection.connected:
                held()
                if handler.jobs:
                    self._ready.append(handler)
        self._held = still

    def _forget_handler(self, handler: StateHandler) -> None:
        self.watches.forget(handler)
        self.waiters.forget(handler)
        handler.jobs.clear()
        handler.held = None
        if handler.owned:
            self._run_outputs(purge_owned(self, handler))  # store failures: logged there

    def _cancel(self, handler: StateHandler, fetch_id: Any) -> None:
        """A client gave a fetch up: refuse it, waiting or still in the queue."""
        for reply in handler.jobs:
            if reply.request.request_id == fetch_id and type(reply.request) is FETCH:
                handler.jobs.remove(reply)
                reply.refuse("cancelled by the client", AbortedError.code)
                return
        self._run_outputs(self.waiters.cancel(handler, fetch_id))

    def _new_owner_token(self) -> str:
        # Shown to every client (listWss, lease holders): no address in it.
        self._owners += 1
        return f"connection {self._run}.{self._owners}"

    def _purge_orphans(self, spaces: list[Space]) -> None:
        """Delete the workspaces that outlived their owner's connection (a restart)."""
        for space in spaces:
            if space.kind == WORKSPACE and not space.persistent and space.owner is not None:
                self.store.delete_space(space.key)

    def _run_outputs(self, outputs: list[Output]) -> None:
        """Send what a batch answers; one answer that cannot be sent stops no other."""
        for output in outputs:
            try:
                output()
            except Exception:
                self.log_throttle.log(
                    logging.ERROR, "send", "failed to send an answer", exc_info=True
                )

    # -- watches -------------------------------------------------------------------

    def _watch_elsewhere(self) -> None:
        """Tell watchers of what other servers changed (a shared Redis)."""
        watching = bool(self.watches) or bool(self.waiters)
        if self.store.shared:
            if watching:
                self._wake_on_notices()
                if self.waiters:
                    self._look_again()
            elif self._wake_descriptor is not None:
                # Nobody waits: notices are read twice a second only, and
                # unread ones must not keep waking update().
                self.stop_waking_on(self._wake_descriptor)
                self._wake_descriptor = None
        if not watching:
            # Nobody to tell: the store hears only deleted spaces then (rare),
            # read now and then so that they do not pile up.
            now = time.perf_counter()
            if now < self._next_look:
                return
            self._next_look = now + 0.5
        try:
            self._tell_changed(self.store.changed_elsewhere(watching))
            self._hearing = watching
        except self.store.failures as exc:
            # The requests will meet the failure too and be refused; the
            # service goes on, and hears of changes again once the store is back.
            self.log_throttle.warning("store", "cannot read the store's change notices: %s", exc)

    def _hear_changes(self) -> None:
        """Before a first watch reads its key: hear of the changes made from then on."""
        if self.store.shared:
            self._wake_on_notices()
        if not self._hearing:
            self._tell_changed(self.store.changed_elsewhere(True))
            self._hearing = True

    def _tell_changed(self, changed: list[tuple[str, str]]) -> None:
        """Tell watchers, and wake waiters, of what other servers changed."""
        if changed:
            self.watches.changed_elsewhere(changed)
            if self.waiters:
                self._run_outputs(self.waiters.changed_elsewhere(changed))

    def _look_again(self) -> None:
        """Once a second, wake every waited-on variable as if a notice had come.

        A notice published while the link to Redis was down is lost; so is
        the wait on a notices connection made anew on the same descriptor
        number (the kernel forgot the old one). This bounds the delay either
        costs a waiting fetch to a second, at one store read per variable.
        """
        now = time.perf_counter()
        if now < self._next_look_again:
            return
        self._next_look_again = now + 1.0
        self._wake_on_notices(anew=True)
        self._run_outputs(self.waiters.wake_all())

    def _wake_on_notices(self, anew: bool = False) -> None:
        """Let update() end its wait when the store's notices arrive, not only on its tick.

        So a fetch waiting here is answered as soon as another server stores
        its value, without polling. The descriptor changes if the store's
        notices connection is made anew; ``anew`` registers it again even if
        its number did not (a new socket may reuse a closed one's number).
        """
        try:
            descriptor = self.store.fileno()
        except OSError:
            descriptor = None
        if descriptor == self._wake_descriptor and not anew:
            return
        if self._wake_descriptor is not None:
            self.stop_waking_on(self._wake_descriptor)
        self._wake_descriptor = descriptor
        if descriptor is not None:
            self.wake_on(descriptor)

    # -- logins --------------------------------------------------------------------

    def _login(self, handler: StateHandler, message: Any, reply: Reply, now: float) -> Output:
        email = self.service.email(message.email)
        address = handler.address_key
        account = f"{address} {email}"
        wait = max(
            self._failed_logins.wait(account, now), self._failed_addresses.wait(address, now)
        )
        if wait > 0:
            raise LoginError(f"too many failed logins; try again in {wait:.0f} s")
        if self.service.check_login(email, message.password):
            handler.user = email
            log.info("%s logged in as %.100r", handler.peer, email)
            return lambda: reply.answer()
        self._failed_logins.failed(account, now)
        self._failed_addresses.failed(address, now)
        self.log_throttle.info("failed login", "failed login from %s", handler.peer)
        handler.hold_until = now + LOGIN_DELAY
        handler.held = _refusal(reply, LoginError("wrong email or password"))
        return nothing


def _refusal(reply: Reply, error: StateError) -> Output:
    reason = str(error)
    code = error.code
    return lambda: reply.refuse(reason, code)


def _refuse_invalid(handler: StateHandler, reply: Reply, reason: str) -> None:
    reply.refuse(reason, InvalidRequestError.code)
    state_requests._count_invalid(handler, reason)


# -- the operations: each returns what to send once its batch is committed ----------

Operation = Callable[[StateServer, StateHandler, Any, Reply, float], Output]


def _version(
    server: StateServer, handler: StateHandler, m: Any, reply: Reply, now: float
) -> Output:
    text = server.service.version()
    return lambda: reply.answer(text)


def _create_account(
    server: StateServer, handler: StateHandler, m: Any, reply: Reply, now: float
) -> Output:
    # Each new account costs a scrypt: as many a minute from one address as logins.
    address = handler.address_key
    wait = server._new_accounts.wait(address, now)
    if wait > 0:
        raise QuotaError(f"too many accounts made from this address; try again in {wait:.0f} s")
    server._new_accounts.failed(address, now)
    server.service.create_account(m.email, m.password)
    log.info("%s created the account %.100r", handler.peer, m.email)
    return lambda: reply.answer()


def _new_space(
    server: StateServer, handler: StateHandler, m: Any, reply: Reply, now: float
) -> Output:
    space = server.service.new_space(
        handler.user, m.kind, m.name, m.readmode, m.writemode, m.persistent
    )
    log.info("%s made the %s %.100r", handler.peer, space.kind, space.name)
    return lambda: reply.answer()


def _join(server: StateServer, handler: StateHandler, m: Any, reply: Reply, now: float) -> Output:
    space = server.service.space(m.kind, m.name)
    admin = handler.user is not None and handler.user == space.owner
    return lambda: reply.answer(space.readmode, space.writemode, admin)


def _delete_space(
    server: StateServer, handler: StateHandler, m: Any, reply: Reply, now: float
) -> Output:
    space = server.service.delete_space(handler.user, m.kind, m.name)
    log.info("%s deleted the %s %.100r", handler.peer, space.kind, space.name)
    aborted = server.waiters.abort(space.key, None, f"the {space.kind} was deleted")
    return then(reply.answer, *server.watches.space_deleted(space.key), *aborted)


def _get(server: StateServer, handler: StateHandler, m: Any, reply: Reply, now: float) -> Output:
    stored = server.service.get(handler.user, m.kind, m.space, m.key, m.unless_hash)
    return lambda: reply.answer(stored.data, stored.hash)


def _put(server: StateServer, handler: StateHandler, m: Any, reply: Reply, now: float) -> Output:
    space, stored = server.service.put(handler.user, m.kind, m.space, m.key, m.data, m.expect)
    return then(lambda: reply.answer(stored.hash), server.watches.tell(space, m.key, stored))


def _remove(
    server: StateServer, handler: StateHandler, m: Any, reply: Reply, now: float
) -> Output:
    space = server.service.remove(handler.user, m.kind, m.space, m.key)
    return then(reply.answer, server.watches.tell(space, m.key, None))


def _member(
    server: StateServer, handler: StateHandler, m: Any, reply: Reply, now: float
) -> Output:
    server.service.member(handler.user, m.kind, m.space, m.action, m.email)
    return lambda: reply.answer()


def _watch(server: StateServer, handler: StateHandler, m: Any, reply: Reply, now: float) -> Output:
    server._hear_changes()  # before the read: no change after it goes unheard
    space, stored = server.service.peek(handler.user, m.kind, m.space, m.key)
    server.watches.add(handler, space, m.key)
    data, digest = (None, None) if stored is None else (stored.data, stored.hash)
    return lambda: reply.answer(data, digest)


def _unwatch(
    server: StateServer, handler: StateHandler, m: Any, reply: Reply, now: float
) -> Output:
    # No look at the space: a deleted one's watches must be removable too.
    server.watches.remove(handler, server.service.space_key(m.kind, m.space, WATCHABLE), m.key)
    return lambda: reply.answer()


_OPERATIONS: dict[type[Any], Operation] = {
    **WORKSPACE_OPERATIONS,
    **DICT_OPERATIONS,
    VERSION: _version,
    LOGIN: StateServer._login,
    CREATE_ACCOUNT: _create_account,
    NEW_SPACE: _new_space,
    JOIN: _join,
    DELETE_SPACE: _delete_space,
    GET: _get,
    PUT: _put,
    REMOVE: _remove,
    MEMBER: _member,
    WATCH: _watch,
    UNWATCH: _unwatch,
}
