"""NetWorkSpaces' ``NwsServer``: one connection to the state service, and its workspaces.

See :mod:`pygnetic.state._nws` for ``NetWorkSpace``. The connection is the
owner of the workspaces it opens, so it is never made again behind the
program's back: once it ends, every call raises
:exc:`~pygnetic.state.NwsConnectionDroppedException`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..request import Request
from ._client import DEFAULT_TIMEOUT, Operation, StateClient, StateRequest
from ._errors import StateError, StateUnavailableError
from ._model import WORKSPACE
from ._nws_errors import DICT, STRING, NwsConnectException, nws_error
from ._protocol import DELETE_SPACE, LIST_SPACES, MKTEMP, OPEN_SPACE, STATE_ADAPTER, STATE_PORT

if TYPE_CHECKING:
    from ._nws import NetWorkSpace

__all__ = ["NwsServer"]

Callback = Callable[[StateRequest], Any] | None


def _converted(operation: Operation) -> Generator[Any, Any, Any]:
    """Run ``operation``, raising NetWorkSpaces' exceptions for the service's."""
    try:
        return (yield from operation)
    except StateError as exc:
        raise nws_error(exc) from None


class NwsServer:
    """A connection to the state service, on which workspaces are opened.

    Args:
        host: Host name of the service.
        port: Its port.
        timeout: Seconds to wait to connect, and for each answer (but a
            blocking fetch or find waits as long as it is told).
        adapter: Network adapter; the service must use the same one.
        clock: Monotonic time source in seconds (tests drive it).
        **client_options: Passed on to :class:`~pygnetic.client.Client`.

    Raises:
        NwsConnectException: The service cannot be reached.

    Attributes:
        serverHost: As given.
        serverPort: As given.
    """

    def __init__(
        self,
        host: str = "localhost",
        port: int = STATE_PORT,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        adapter: str | ModuleType | None = STATE_ADAPTER,
        clock: Callable[[], float] = time.monotonic,
        **client_options: Any,
    ) -> None:
        self.serverHost, self.serverPort = host, port
        try:
            self.client = StateClient(
                (host, port), timeout=timeout, adapter=adapter, clock=clock, **client_options
            )
        except StateUnavailableError as exc:
            raise NwsConnectException(str(exc)) from None
        self.client.reconnect = False  # ownership ends with the connection: no silent new one
        # Fetches given up, and the stores putting back what they brought.
        self._giving_up: set[Request] = set()

    def __str__(self) -> str:
        return f"NwsServer {self.serverHost}:{self.serverPort}"

    __repr__ = __str__

    def _run(self, name: str, operation: Operation) -> Any:
        return self.client._run(name, _converted(operation))

    def _start(
        self, name: str, operation: Operation, callback: Callback, event: bool
    ) -> StateRequest:
        return self.client._start(name, _converted(operation), callback, event)

    def poll(self, timeout_ms: int = 0) -> None:
        """Do the network work; completes the ``…_nowait`` requests (call it every frame)."""
        self.client.poll(timeout_ms)

    def close(self) -> None:
        """Close the connection; the service purges the non-persistent workspaces it owned.

        A fetch given up whose value was already on its way stores it again
        first (waiting a second at most).
        """
        give_up = time.monotonic() + 1.0
        while self._giving_up and self.client.connected and time.monotonic() < give_up:
            self.client.poll(5)
        self.client.close()

    def __enter__(self) -> NwsServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- workspaces ----------------------------------------------------------------

    def _open(self, name: str, own: bool, persistent: bool, create: bool) -> Operation:
        answer = yield self.client._ask(OPEN_SPACE, WORKSPACE, name, own, persistent, create)
        return bool(answer.owned)

    def openWs(
        self,
        wsName: str,
        space: NetWorkSpace | None = None,
        *,
        persistent: bool = False,
        create: bool = True,
    ) -> NetWorkSpace:
        """Open a workspace, taking ownership of it if it has no owner; return it.

        Args:
            wsName: Its name.
            space: The NetWorkSpace to open it for (its constructor's use);
                None makes one on this server.
            persistent: If this connection becomes the owner: keep the
                workspace when the connection ends.
            create: Make it if it does not exist.

        Raises:
            NwsNoWorkSpaceException: It does not exist and ``create`` is False.
        """
        if space is None:
            from ._nws import NetWorkSpace

            return NetWorkSpace(wsName, server=self, persistent=persistent, create=create)
        _same_name(space, wsName)
        space.owned = self._run("openWs", self._open(wsName, True, persistent, create))
        return space

    def useWs(
        self,
        wsName: str,
        space: NetWorkSpace | None = None,
        *,
        create: bool = True,
    ) -> NetWorkSpace:
        """Use a workspace without taking ownership of it; return it.

        Raises:
            NwsNoWorkSpaceException: It does not exist and ``create`` is False.
        """
        if space is None:
            from ._nws import NetWorkSpace

            return NetWorkSpace(wsName, server=self, useUse=True, create=create)
        _same_name(space, wsName)
        space.owned = self._run("useWs", self._open(wsName, False, False, create))
        return space

    def _mktemp(self, template: str) -> Operation:
        answer = yield self.client._ask(MKTEMP, template)
        return str(answer.text)

    def mktempWs(self, wsName: str = "__pyws__%d") -> str:
        """Make a workspace with a unique name from a template; return the name.

        It has no owner until a client opens it (:meth:`openWs`).

        Args:
            wsName: The template: text around one ``%d``.
        """
        return str(self._run("mktempWs", self._mktemp(wsName)))

    def _list(self, request: type[Any], *fields: Any) -> Operation:
        answer = yield self.client._ask(request, *fields)
        return [tuple(row) for row in answer.rows]

    def listWss(self, format: str = STRING) -> str | dict[str, tuple[Any, ...]]:
        """Return a listing of every workspace of the service.

        Args:
            format: ``'string'``: one line per workspace, ending with a
                newline, of tab-separated fields (the name, prefixed with
                ``'>'`` if this connection owns it, else a space; the owner;
                whether persistent; the number of variables; their names,
                comma-separated). ``'dict'``: a dict by name of tuples indexed
                by ``WS_NAME``, ``WS_MINE``, ``WS_OWNER``, ``WS_PERSISTENT``,
                ``WS_NUMVARS``, ``WS_VARLIST``.
        """
        _check_format(format)
        rows = self._run("listWss", self._list(LIST_SPACES, WORKSPACE))
        if format == DICT:
            return {row[0]: row for row in rows}
        return "".join(
            f"{'>' if mine else ' '}{name}\t{owner}\t{persistent}\t{count}\t{names}\n"
            for name, mine, owner, persistent, count, names in rows
        )

    def _delete(self, name: str) -> Operation:
        yield self.client._ask(DELETE_SPACE, WORKSPACE, name)

    def deleteWs(self, wsName: str) -> None:
        """Delete a workspace; what waits on its variables is aborted.

        Raises:
            NwsNoWorkSpaceException: There is none by that name.
        """
        self._run("deleteWs", self._delete(wsName))

    open_ws = openWs
    use_ws = useWs
    mktemp_ws = mktempWs
    list_wss = listWss
    delete_ws = deleteWs


def _same_name(space: NetWorkSpace, name: str) -> None:
    if space.curWs != name:
        raise ValueError(f"the space is {space.curWs!r}, not {name!r}")


def _check_format(format: str) -> None:
    if format not in (STRING, DICT):
        raise ValueError(f"format must be 'string' or 'dict', not {format!r}")
