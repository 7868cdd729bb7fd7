"""NetWorkSpaces' ``NetWorkSpace`` and ``NwsServer`` on the pygnetic state service.

The seed's names, signatures and semantics (``nws.client``), with PEP 8
names beside them (``fetch_try`` for ``fetchTry``). A workspace holds
variables; a variable holds values, retrieved by its mode::

    from pygnetic.state import NetWorkSpace

    ws = NetWorkSpace('test')            # the service on localhost:8765
    ws.store('answer', 42)
    count = ws.fetch('answer')           # blocks until a value is there

Each stored value is fetched by exactly one client, however many wait.
Values are msgpack with pygame's types (never pickle): numbers, str, bytes,
lists, dicts, pygame's Rect, Color, Vector2 …; a tuple comes back a list.
Every call blocks; ``store``, ``fetch``, ``find`` and their ``Try`` forms
also come as ``…_nowait`` methods returning a
:class:`~pygnetic.state.StateRequest`, done inside :meth:`NetWorkSpace.poll`.

The connection is the owner: a workspace opened (not only used) by a
connection is purged when it closes, unless persistent. So a connection
that ends is not made again behind the program's back: every later call
raises :exc:`NwsConnectionDroppedException`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import IO, Any

from ..request import Request
from ._client import Operation, StateRequest
from ._model import MODES, unpack_value
from ._nws_errors import DICT, STRING, NwsDeclarationFailedException, NwsOperationException
from ._nws_server import NwsServer, _check_format
from ._protocol import (
    CANCEL,
    DECLARE,
    DELETE_VAR,
    FETCH,
    LIST_VARS,
    STATE_PORT,
    STORE,
)

__all__ = ["NetWorkSpace", "NwsServer", "NwsValueIterator"]

Callback = Callable[[StateRequest], Any] | None
#: A request's timeout when it may wait for ever (about 30 years).
FOREVER = 1e9


class NetWorkSpace:
    """A workspace on the state service: variables of values, shared by its clients.

    Args:
        wsName: Its name; every client naming it on one service shares it.
        serverHost: The service's host (unless ``server`` is given).
        serverPort: Its port.
        useUse: Only use the workspace, never taking ownership of it.
        server: An :class:`NwsServer` to open it on; None makes one.
        persistent: If this client becomes the owner: keep the workspace
            when its connection ends (else it is purged then).
        create: Make the workspace if it does not exist.
        **server_options: For the :class:`NwsServer` it makes (``timeout`` …).

    Raises:
        NwsConnectException: The service cannot be reached.
        NwsNoWorkSpaceException: No such workspace, and ``create`` is False.

    Attributes:
        server: The :class:`NwsServer`.
        curWs: The workspace's name (see :meth:`currentWs`).
        owned: Whether this client's connection owns it.
    """

    def __init__(
        self,
        wsName: str = "__default",
        serverHost: str = "localhost",
        serverPort: int = STATE_PORT,
        useUse: bool = False,
        server: NwsServer | None = None,
        persistent: bool = False,
        create: bool = True,
        **server_options: Any,
    ) -> None:
        self.curWs = wsName
        self.owned = False
        self._owns_server = server is None
        self.server = (
            server if server is not None else NwsServer(serverHost, serverPort, **server_options)
        )
        try:
            if useUse:
                self.server.useWs(wsName, self, create=create)
            else:
                self.server.openWs(wsName, self, persistent=persistent, create=create)
        except BaseException:
            if self._owns_server:
                self.server.close()
            raise

    def __str__(self) -> str:
        return f"NetWorkSpace {self.curWs!r} [{self.server.serverHost}:{self.server.serverPort}]"

    __repr__ = __str__

    def currentWs(self) -> str:
        """Return the name of the workspace."""
        return self.curWs

    def poll(self, timeout_ms: int = 0) -> None:
        """Do the network work; completes the ``…_nowait`` requests (call it every frame)."""
        self.server.poll(timeout_ms)

    update = poll

    def close(self) -> None:
        """Close the connection, if this workspace made its server (else close the server)."""
        if self._owns_server:
            self.server.close()

    def __enter__(self) -> NetWorkSpace:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- variables -----------------------------------------------------------------

    def _declare(self, name: str, mode: str) -> Operation:
        yield self.server.client._ask(DECLARE, self.curWs, name, mode)

    def declare(self, varName: str, mode: str) -> None:
        """Declare a variable with a mode: ``'fifo'``, ``'lifo'``, ``'multi'`` or ``'single'``.

        A variable made by :meth:`store` is FIFO. A mode never changes.

        Raises:
            NwsDeclarationFailedException: The variable has another mode, or
                the mode is none of the four.
        """
        if mode not in MODES:
            raise NwsDeclarationFailedException(
                f"the mode must be 'fifo', 'lifo', 'multi' or 'single', not {mode!r}"
            )
        self.server._run("declare", self._declare(varName, mode))

    def _delete_var(self, name: str) -> Operation:
        yield self.server.client._ask(DELETE_VAR, self.curWs, name)

    def deleteVar(self, varName: str) -> None:
        """Delete a variable and its values; blocked fetches and finds of it are aborted."""
        self.server._run("deleteVar", self._delete_var(varName))

    def _store(self, name: str, value: Any) -> Operation:
        client = self.server.client
        yield client._ask(STORE, self.curWs, name, client._pack(value))

    def store(self, varName: str, val: Any) -> None:
        """Store a value in a variable (made FIFO if new)."""
        self.server._run("store", self._store(varName, val))

    def store_nowait(
        self, varName: str, val: Any, callback: Callback = None, event: bool = False
    ) -> StateRequest:
        """:meth:`store`, without waiting."""
        return self.server._start("store", self._store(varName, val), callback, event)

    def _take(
        self,
        name: str,
        remove: bool,
        block: bool,
        timeout: float | None = None,
        after: int = -1,
    ) -> Operation:
        """The ``item`` answer of one fetch or find; ``data`` None: no value."""
        client = self.server.client
        if not block:
            wait_ms, ask_timeout = 0, None
        elif timeout is None:
            wait_ms, ask_timeout = -1, FOREVER
        else:
            if not timeout > 0:
                raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
            wait_ms, ask_timeout = max(1, math.ceil(timeout * 1000)), timeout + client.timeout
        request = client._ask(FETCH, self.curWs, name, remove, wait_ms, after, timeout=ask_timeout)
        try:
            return (yield request)
        except BaseException:  # refused, or given up (cancel(), an interrupted blocking call)
            if not request.done and client.connected:
                self._give_up(name, request, remove)
            raise

    def _give_up(self, name: str, request: Request, remove: bool) -> None:
        """End a fetch or find nobody waits for; store again a value on its way to it."""
        server = self.server
        client = server.client
        client._ask(CANCEL, request.request_id)
        workspace = self.curWs
        server._giving_up.add(request)

        def put_back(answered: Request) -> None:
            server._giving_up.discard(answered)
            if remove and answered.error is None and answered.result().data is not None:
                stored = client._ask(STORE, workspace, name, answered.result().data)
                server._giving_up.add(stored)
                stored.callback = server._giving_up.discard

        request.callback = put_back

    def _value(
        self, name: str, remove: bool, block: bool, timeout: float | None, missing: Any
    ) -> Operation:
        answer = yield from self._take(name, remove, block, timeout)
        return missing if answer.data is None else unpack_value(answer.data)

    def fetch(self, varName: str, timeout: float | None = None) -> Any:
        """Remove and return a value of a variable, waiting until there is one.

        However many clients wait, each value is fetched by one of them.

        Args:
            varName: The variable.
            timeout: Seconds to wait at most; None waits for ever.

        Raises:
            NwsTimeoutException: No value came within ``timeout``.
            NwsAbortedException: The variable was deleted meanwhile.
        """
        return self.server._run("fetch", self._value(varName, True, True, timeout, None))

    def fetchTry(self, varName: str, missing: Any = None) -> Any:
        """Remove and return a value of a variable, or ``missing`` if it has none."""
        return self.server._run("fetchTry", self._value(varName, True, False, None, missing))

    def find(self, varName: str, timeout: float | None = None) -> Any:
        """Return a value of a variable, leaving it there, waiting until there is one.

        Raises:
            NwsTimeoutException: No value came within ``timeout`` seconds.
            NwsAbortedException: The variable was deleted meanwhile.
        """
        return self.server._run("find", self._value(varName, False, True, timeout, None))

    def findTry(self, varName: str, missing: Any = None) -> Any:
        """Return a value of a variable, leaving it there, or ``missing`` if it has none."""
        return self.server._run("findTry", self._value(varName, False, False, None, missing))

    def fetch_nowait(
        self,
        varName: str,
        timeout: float | None = None,
        callback: Callback = None,
        event: bool = False,
    ) -> StateRequest:
        """:meth:`fetch`, without waiting: the request's result is the value."""
        operation = self._value(varName, True, True, timeout, None)
        return self.server._start("fetch", operation, callback, event)

    def fetch_try_nowait(
        self,
        varName: str,
        missing: Any = None,
        callback: Callback = None,
        event: bool = False,
    ) -> StateRequest:
        """:meth:`fetchTry`, without waiting."""
        operation = self._value(varName, True, False, None, missing)
        return self.server._start("fetchTry", operation, callback, event)

    def find_nowait(
        self,
        varName: str,
        timeout: float | None = None,
        callback: Callback = None,
        event: bool = False,
    ) -> StateRequest:
        """:meth:`find`, without waiting."""
        operation = self._value(varName, False, True, timeout, None)
        return self.server._start("find", operation, callback, event)

    def find_try_nowait(
        self,
        varName: str,
        missing: Any = None,
        callback: Callback = None,
        event: bool = False,
    ) -> StateRequest:
        """:meth:`findTry`, without waiting."""
        operation = self._value(varName, False, False, None, missing)
        return self.server._start("findTry", operation, callback, event)

    # -- iterators -----------------------------------------------------------------

    def ifetch(self, varName: str) -> NwsValueIterator:
        """Return an iterator fetching values, waiting for each (FIFO and SINGLE variables)."""
        return NwsValueIterator(self, varName, "fetch")

    def ifetchTry(self, varName: str) -> NwsValueIterator:
        """Return an iterator fetching values until there is none (FIFO and SINGLE)."""
        return NwsValueIterator(self, varName, "fetchTry")

    def ifind(self, varName: str) -> NwsValueIterator:
        """Return an iterator over every value, never the same twice, waiting for new ones.

        For FIFO and SINGLE variables: values stay for others.
        """
        return NwsValueIterator(self, varName, "find")

    def ifindTry(self, varName: str) -> NwsValueIterator:
        """Return an iterator over the values there are now, never the same twice."""
        return NwsValueIterator(self, varName, "findTry")

    # -- listings and files ----------------------------------------------------------

    def listVars(
        self,
        wsName: str | None = None,
        format: str = STRING,
    ) -> str | dict[str, tuple[Any, ...]]:
        """Return a listing of the variables of a workspace (default: this one).

        Args:
            wsName: The workspace; None for this one.
            format: ``'string'``: a line per variable of tab-separated fields
                (name, values, fetchers, finders, mode); ``'dict'``: a dict by
                name of tuples indexed by ``V_VARIABLE``, ``V_VALUES``,
                ``V_FETCHERS``, ``V_FINDERS``, ``V_MODE``. Fetchers and finders
                are those waiting through the same state server.
        """
        _check_format(format)
        name = self.curWs if wsName is None else wsName
        rows = self.server._run("listVars", self.server._list(LIST_VARS, name))
        if format == DICT:
            return {row[0]: row for row in rows}
        return "".join("\t".join(str(field) for field in row) + "\n" for row in rows)

    def storeFile(self, varName: str, fobj: IO[Any], n: int = 0) -> int:
        """Store the data read from a file (at most ``n`` bytes; 0: all) as a bytes value.

        Returns:
            The number of bytes read; 0 stores nothing.
        """
        data = fobj.read(n) if n else fobj.read()
        if isinstance(data, str):
            data = data.encode()
        if not data:
            return 0
        self.store(varName, bytes(data))
        return len(data)

    def fetchFile(self, varName: str, fobj: IO[Any]) -> int:
        """:meth:`fetch` a bytes (or str) value into a file; return the bytes written."""
        return _write(fobj, self.fetch(varName))

    def fetchTryFile(self, varName: str, fobj: IO[Any]) -> int:
        """:meth:`fetchTry` into a file; 0 if there was no value."""
        return _write(fobj, self.fetchTry(varName))

    def findFile(self, varName: str, fobj: IO[Any]) -> int:
        """:meth:`find` a bytes (or str) value into a file; return the bytes written."""
        return _write(fobj, self.find(varName))

    def findTryFile(self, varName: str, fobj: IO[Any]) -> int:
        """:meth:`findTry` into a file; 0 if there was no value."""
        return _write(fobj, self.findTry(varName))

    current_ws = currentWs
    delete_var = deleteVar
    fetch_try = fetchTry
    find_try = findTry
    ifetch_try = ifetchTry
    ifind_try = ifindTry
    list_vars = listVars
    store_file = storeFile
    fetch_file = fetchFile
    fetch_try_file = fetchTryFile
    find_file = findFile
    find_try_file = findTryFile


def _write(fobj: IO[Any], value: Any) -> int:
    """Write a bytes or str value to a file; None (no value) writes nothing."""
    if value is None:
        return 0
    if isinstance(value, str):
        value = value.encode()
    if not isinstance(value, (bytes, bytearray)):
        raise NwsOperationException(
            f"a {type(value).__name__} value cannot be written to a file (only bytes or str)"
        )
    fobj.write(value)
    return len(value)


class NwsValueIterator:
    """An iterator over a workspace variable; made by ``ifetch``, ``ifind`` and their Try forms.

    Args:
        ws: The workspace.
        varName: The variable.
        op: ``'fetch'``, ``'fetchTry'``, ``'find'`` or ``'findTry'``.
    """

    def __init__(self, ws: NetWorkSpace, varName: str, op: str) -> None:
        if op not in ("fetch", "fetchTry", "find", "findTry"):
            raise ValueError(f"op must be fetch, fetchTry, find or findTry, not {op!r}")
        self._ws, self._name = ws, varName
        self._remove = op.startswith("fetch")
        self._block = not op.endswith("Try")
        self._after = 0  # the number of the last value found
        self._stopped = False

    def __iter__(self) -> NwsValueIterator:
        return self

    def _next(self) -> Operation:
        answer = yield from self._ws._take(
            self._name, self._remove, self._block, after=self._after
        )
        if answer.data is None:
            return _STOP
        if not self._remove:
            self._after = answer.seq
        return unpack_value(answer.data)

    def __next__(self) -> Any:
        if self._stopped:
            raise StopIteration
        value = self._ws.server._run("next", self._next())
        if value is _STOP:
            self._stopped = True
            raise StopIteration
        return value

    next = __next__

    def reset(self) -> None:
        """Go back to the variable's first value, as when the iterator was made."""
        self._after = 0
        self._stopped = False

    def restart(self) -> None:
        """Go on from where it stopped: a Try iterator then sees only values new since."""
        self._stopped = False

    def writeTo(self, fobj: IO[Any]) -> int:
        """Write the next (bytes or str) value to a file; return the bytes written.

        Raises:
            StopIteration: There is no next value.
        """
        return _write(fobj, next(self))

    write_to = writeTo


_STOP: Any = object()
