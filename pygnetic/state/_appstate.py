"""appstate's ``DistributedState`` on the pygnetic state service.

The seed's names and semantics (appstate 0.1), with accounts of the service
instead of Google's. Every method blocks, pumping the connection, until the
answer arrives or ``timeout`` passes; each has a ``…_nowait`` form that
returns a :class:`~pygnetic.state.StateRequest` at once, for a game loop
that calls :meth:`~pygnetic.state.StateClient.poll` every frame.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._client import Operation, StateClient, StateRequest, WatchCallback
from ._errors import NoSuchKeyError, UnjoinedError, UpdateFailedError
from ._model import ABSENT, ANY, APP, unpack_value
from ._protocol import (
    CREATE_ACCOUNT,
    DELETE_SPACE,
    GET,
    JOIN,
    LOGIN,
    MEMBER,
    NEW_SPACE,
    PUT,
    REMOVE,
    UNWATCH,
    VERSION,
    WATCH,
)

__all__ = ["DistributedState"]

Callback = Callable[[StateRequest], Any] | None

#: How many times ``apply_op`` tries its compare-and-swap before giving up.
MAX_APPLY_TRIES = 1000


class DistributedState(StateClient):
    """A persistent dictionary shared by every copy of a game (appstate's class).

    Connects at once (see :class:`~pygnetic.state.StateClient` for the
    options)::

        state = DistributedState('localhost')       # port 8765
        state.join('NathanWhitehead+AstroMaxBlaster')
        state['motd'] = 'Welcome!'
        score = state.apply_op('plays', lambda n: n + 1, create=True, defaultvalue=0)

    Args:
        server: ``'host'``, ``'host:port'`` or ``(host, port)``.
        **options: As :class:`~pygnetic.state.StateClient` (``timeout``,
            ``blocking``, ``adapter``, ``clock`` …).

    Attributes:
        appid: The joined application's id, or None.
        readmode: Its read mode, once joined.
        writemode: Its write mode, once joined.
        admin: Whether the logged-in account is its admin.
        user: The email logged in as, or None.
    """

    def __init__(self, server: str | tuple[str, int] = "localhost", **options: Any) -> None:
        super().__init__(server, **options)
        self.appid: str | None = None
        self.readmode: int | None = None
        self.writemode: int | None = None
        self.admin = False
        self.user: str | None = None
        self._password: str | None = None

    def __repr__(self) -> str:
        host, port = self.address
        return f"<DistributedState {host}:{port} app={self.appid!r} user={self.user!r}>"

    def _session_requests(self) -> list[tuple[type[Any], tuple[Any, ...]]]:
        """A new connection logs in again and joins the application again."""
        requests: list[tuple[type[Any], tuple[Any, ...]]] = []
        if self.user is not None and self._password is not None:
            requests.append((LOGIN, (self.user, self._password)))
        if self.appid is not None:
            requests.append((JOIN, (APP, self.appid)))
        return requests

    def _replay_failed(self, request: type[Any], error: BaseException) -> None:
        """After a reconnect the login or the join failed: no longer claim it."""
        if request is LOGIN:
            self.user = self._password = None
            self.admin = False
        elif request is JOIN:
            self.appid = self.readmode = self.writemode = None
            self.admin = False

    def _app(self) -> str:
        if self.appid is None:
            raise UnjoinedError("join an application first (join() or new_app())")
        return self.appid

    # -- accounts ------------------------------------------------------------------

    def _login(self, email: str, password: str) -> Operation:
        yield self._ask(LOGIN, email, password)
        self.user, self._password = email, password
        if self.appid is not None:  # the admin flag is per account
            answer = yield self._ask(JOIN, APP, self.appid)
            self.admin = bool(answer.admin)

    def login(self, email: str, password: str) -> None:
        """Log in to the service's account ``email``.

        Raises:
            LoginError: Wrong email or password, or too many failed logins
                (see its ``reasons``). A failed login's answer comes a second late.
        """
        self._run("login", self._login(email, password))

    def login_nowait(
        self, email: str, password: str, callback: Callback = None, event: bool = False
    ) -> StateRequest:
        """:meth:`login`, without waiting."""
        return self._start("login", self._login(email, password), callback, event)

    def _create_account(self, email: str, password: str) -> Operation:
        yield self._ask(CREATE_ACCOUNT, email, password)

    def create_account(self, email: str, password: str) -> None:
        """Create an account on the service (then :meth:`login`); replaces Google's accounts.

        Raises:
            DuplicateError: The account exists.
            PermissionError: The service makes accounts only by its admin command.
            InvalidRequestError: Not an email, or a password under 6 characters.
        """
        self._run("create_account", self._create_account(email, password))

    def create_account_nowait(
        self, email: str, password: str, callback: Callback = None, event: bool = False
    ) -> StateRequest:
        """:meth:`create_account`, without waiting."""
        return self._start(
            "create_account", self._create_account(email, password), callback, event
        )

    # -- applications --------------------------------------------------------------

    def _new_app(self, appid: str, readmode: int, writemode: int) -> Operation:
        yield self._ask(NEW_SPACE, APP, appid, readmode, writemode, True)
        yield from self._join(appid)

    def new_app(self, appid: str, readmode: int = ANY, writemode: int = ANY) -> None:
        """Register a new application, with you as its admin, and join it.

        Raises:
            PermissionError: Not logged in.
            DuplicateError: The id is taken.
        """
        self._run("new_app", self._new_app(appid, readmode, writemode))

    def new_app_nowait(
        self, appid: str, readmode: int = ANY, writemode: int = ANY,
        callback: Callback = None, event: bool = False,
    ) -> StateRequest:  # fmt: skip
        """:meth:`new_app`, without waiting."""
        return self._start("new_app", self._new_app(appid, readmode, writemode), callback, event)

    def _join(self, appid: str | None) -> Operation:
        if appid is None:
            raise UnjoinedError("join() needs an application id")
        answer = yield self._ask(JOIN, APP, appid)
        self.appid, self.readmode, self.writemode = appid, answer.readmode, answer.writemode
        self.admin = bool(answer.admin)

    def join(self, appid: str | None = None) -> None:
        """Join an existing application.

        Raises:
            AppIdError: There is no application ``appid``.
        """
        self._run("join", self._join(appid))

    def join_nowait(
        self, appid: str | None = None, callback: Callback = None, event: bool = False
    ) -> StateRequest:
        """:meth:`join`, without waiting."""
        return self._start("join", self._join(appid), callback, event)

    def _delete_app(self) -> Operation:
        yield self._ask(DELETE_SPACE, APP, self._app())
        self.appid = self.readmode = self.writemode = None
        self.admin = False

    def delete_app(self) -> None:
        """Delete the joined application and everything in it; cannot be undone.

        Raises:
            UnjoinedError: No application joined.
            PermissionError: You are not its admin.
        """
        self._run("delete_app", self._delete_app())

    def delete_app_nowait(self, callback: Callback = None, event: bool = False) -> StateRequest:
        """:meth:`delete_app`, without waiting."""
        return self._start("delete_app", self._delete_app(), callback, event)

    def _member(self, action: str, email: str) -> Operation:
        yield self._ask(MEMBER, APP, self._app(), action, email)

    def authorize(self, email: str) -> None:
        """Authorize ``email`` (the admin only); matters in ``AUTHORIZED_ONLY`` mode.

        Raises:
            UnjoinedError: No application joined.
            PermissionError: You are not its admin.
            DuplicateError: It is authorized already.
        """
        self._run("authorize", self._member("authorize", email))

    def unauthorize(self, email: str) -> None:
        """Take back the authorization of ``email`` (the admin only).

        Raises:
            UnjoinedError: No application joined.
            PermissionError: You are not its admin.
            DuplicateError: It is not authorized.
        """
        self._run("unauthorize", self._member("unauthorize", email))

    def ban(self, email: str) -> None:
        """Ban ``email`` (the admin only); matters in ``UNBANNED_ONLY`` mode.

        Raises:
            UnjoinedError: No application joined.
            PermissionError: You are not its admin.
            DuplicateError: It is banned already.
        """
        self._run("ban", self._member("ban", email))

    def unban(self, email: str) -> None:
        """Lift the ban of ``email`` (the admin only).

        Raises:
            UnjoinedError: No application joined.
            PermissionError: You are not its admin.
            DuplicateError: It is not banned.
        """
        self._run("unban", self._member("unban", email))

    def member_nowait(
        self, action: str, email: str, callback: Callback = None, event: bool = False
    ) -> StateRequest:
        """Authorize, unauthorize, ban or unban (``action``) ``email``, without waiting."""
        return self._start(action, self._member(action, email), callback, event)

    def _version(self) -> Operation:
        answer = yield self._ask(VERSION)
        return str(answer.text)

    def version(self) -> str:
        """Return the service's version string."""
        return self._run("version", self._version())  # type: ignore[no-any-return]

    def version_nowait(self, callback: Callback = None, event: bool = False) -> StateRequest:
        """:meth:`version`, without waiting."""
        return self._start("version", self._version(), callback, event)

    # -- values --------------------------------------------------------------------

    def _get(self, key: str, unless: str | None = None) -> Operation:
        answer = yield self._ask(GET, APP, self._app(), key, unless)
        return unpack_value(answer.data)

    def __getitem__(self, key: str) -> Any:
        """Return the current value of ``key``.

        Raises:
            KeyError: It has no value (:exc:`~pygnetic.state.NoSuchKeyError`).
            PermissionError: The read mode does not let you read.
            UnjoinedError: No application joined.
        """
        return self._run("get", self._get(key))

    def get_nowait(self, key: str, callback: Callback = None, event: bool = False) -> StateRequest:
        """``state[key]``, without waiting; the request's result is the value."""
        return self._start("get", self._get(key), callback, event)

    def get_if_changed(self, key: str, oldhash: str) -> Any:
        """Return the value of ``key`` if its hash is not ``oldhash``.

        Raises:
            DataUnchangedError: It still has the hash ``oldhash``.
            KeyError: It has no value.
            PermissionError: The read mode does not let you read.
            UnjoinedError: No application joined.
        """
        return self._run("get_if_changed", self._get(key, oldhash))

    def get_if_changed_nowait(
        self, key: str, oldhash: str, callback: Callback = None, event: bool = False
    ) -> StateRequest:
        """:meth:`get_if_changed`, without waiting."""
        return self._start("get_if_changed", self._get(key, oldhash), callback, event)

    def _cas(self, key: str, oldhash: str, value: Any) -> Operation:
        if type(oldhash) is not str:
            raise TypeError(
                f"update() compares with a hash (a str: hash_value(v)), not {oldhash!r}; "
                "state[key] = value writes whatever the key holds"
            )
        return (yield from self._put(key, value, oldhash))

    def _put(self, key: str, value: Any, expect: str | None) -> Operation:
        answer = yield self._ask(PUT, APP, self._app(), key, self._pack(value), expect)
        return str(answer.hash)

    def __setitem__(self, key: str, value: Any) -> None:
        """Set ``key`` to ``value``, whatever it held; prefer :meth:`update` or :meth:`apply_op`.

        Raises:
            SizeError: The packed value is over the service's limit (20 KiB by
                default); nothing is stored.
            PermissionError: The write mode does not let you write.
            UnjoinedError: No application joined.
        """
        self._run("set", self._put(key, value, None))

    def set_nowait(
        self, key: str, value: Any, callback: Callback = None, event: bool = False
    ) -> StateRequest:
        """``state[key] = value``, without waiting; the result is the new hash."""
        return self._start("set", self._put(key, value, None), callback, event)

    def update(self, key: str, oldhash: str, value: Any) -> None:
        """Set ``key`` to ``value`` if its current value has the hash ``oldhash``.

        ``hash_value(v)`` is the hash of a value ``v``.

        Raises:
            UpdateFailedError: The hash differs (someone else changed it).
            SizeError: The packed value is over the service's limit.
            PermissionError: The write mode does not let you write.
            UnjoinedError: No application joined.
        """
        self._run("update", self._cas(key, oldhash, value))

    def update_nowait(
        self, key: str, oldhash: str, value: Any, callback: Callback = None, event: bool = False
    ) -> StateRequest:
        """:meth:`update`, without waiting; the result is the new hash."""
        return self._start("update", self._cas(key, oldhash, value), callback, event)

    def _delete(self, key: str) -> Operation:
        yield self._ask(REMOVE, APP, self._app(), key)

    def __delitem__(self, key: str) -> None:
        """Delete the value of ``key``.

        Raises:
            KeyError: It has no value.
            PermissionError: The write mode does not let you write.
            UnjoinedError: No application joined.
        """
        self._run("delete", self._delete(key))

    def delete_nowait(
        self, key: str, callback: Callback = None, event: bool = False
    ) -> StateRequest:
        """``del state[key]``, without waiting."""
        return self._start("delete", self._delete(key), callback, event)

    def _apply_op(
        self, key: str, func: Callable[[Any], Any], create: bool, defaultvalue: Any
    ) -> Operation:
        appid = self._app()
        for _ in range(MAX_APPLY_TRIES):
            try:
                answer = yield self._ask(GET, APP, appid, key, None)
                value, digest = unpack_value(answer.data), answer.hash
            except NoSuchKeyError:
                if not create:
                    raise
                value, digest = defaultvalue, ABSENT
            new = func(value)
            try:
                yield self._ask(PUT, APP, appid, key, self._pack(new), digest)
            except UpdateFailedError:
                continue  # someone else changed it first: apply func to theirs
            return new
        raise UpdateFailedError(f"apply_op on {key!r} lost the race {MAX_APPLY_TRIES} times")

    def apply_op(
        self, key: str, func: Callable[[Any], Any], create: bool = False, defaultvalue: Any = None
    ) -> Any:
        """Replace the value of ``key`` by ``func(value)``, retrying until no one raced it.

        ``func`` may run more than once: keep it free of side effects. Returns
        the value stored.

        Raises:
            KeyError: ``key`` has no value and ``create`` is False (with
                ``create``, ``func`` is applied to ``defaultvalue``).
            SizeError: The packed value is over the service's limit.
            PermissionError: The write mode does not let you write.
            UnjoinedError: No application joined.
        """
        return self._run("apply_op", self._apply_op(key, func, create, defaultvalue))

    def apply_op_nowait(
        self, key: str, func: Callable[[Any], Any], create: bool = False,
        defaultvalue: Any = None, callback: Callback = None, event: bool = False,
    ) -> StateRequest:  # fmt: skip
        """:meth:`apply_op`, without waiting; the result is the value stored."""
        operation = self._apply_op(key, func, create, defaultvalue)
        return self._start("apply_op", operation, callback, event)

    # -- watches (beyond appstate) ----------------------------------------------------

    def _watch(self, key: str, callback: WatchCallback | None, event: bool) -> Operation:
        appid = self._app()
        answer = yield self._ask(WATCH, APP, appid, key)
        self._watched(APP, appid, key, callback, event, answer.hash)
        if answer.data is None:
            return None
        return unpack_value(answer.data)

    def watch(self, key: str, callback: WatchCallback | None = None, event: bool = False) -> Any:
        """Be told each time ``key`` changes, from now on; return its current value (or None).

        ``callback(key, value, hash)`` runs inside :meth:`poll` (and inside
        blocking calls) after each change, by anyone; ``hash`` is None when
        the key was deleted. With ``event=True`` a
        :data:`~pygnetic.event.NET_STATE_CHANGED` event is posted as well.

        Raises:
            PermissionError: The read mode does not let you read.
            UnjoinedError: No application joined.
            InvalidRequestError: This connection watches the most keys it may.
        """
        return self._run("watch", self._watch(key, callback, event))

    def watch_nowait(
        self, key: str, callback: WatchCallback | None = None, event: bool = False
    ) -> StateRequest:
        """:meth:`watch`, without waiting; the result is the current value.

        ``callback`` and ``event`` are the watch's, as in :meth:`watch`; check
        the request's ``done`` to learn when the watch is in place.
        """
        return self._start("watch", self._watch(key, callback, event))

    def _unwatch(self, key: str) -> Operation:
        appid = self._app()
        self._watches.pop((APP, appid, key), None)
        yield self._ask(UNWATCH, APP, appid, key)

    def unwatch(self, key: str) -> None:
        """Stop being told of changes to ``key``."""
        self._run("unwatch", self._unwatch(key))

    def unwatch_nowait(
        self, key: str, callback: Callback = None, event: bool = False
    ) -> StateRequest:
        """:meth:`unwatch`, without waiting (the callback stops at once)."""
        return self._start("unwatch", self._unwatch(key), callback, event)
