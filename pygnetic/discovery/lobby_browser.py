"""Players' side of the lobby: ask for pages of listed game servers.

::

    lobby = LobbyBrowser('lobby.example.com')
    request = lobby.get_servers(game='tanks', callback=show_page)
    while in_menu:
        lobby.update()            # show_page(request) runs in here
        if request.done and not request.error:
            servers = request.result.servers

The connection opens with the first request and closes after
``idle_timeout`` seconds without one. A lobby that cannot be reached, or is
lost, fails the pending requests, with the reason in :attr:`PageRequest.error`
(``cannot reach lobby HOST:PORT: ...`` or ``lost lobby HOST:PORT: ...``); the
browser adds no log line of its own for that, since the program decides what
to show. Listings the lobby sends malformed are skipped with a log line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any, NamedTuple

from ..errors import MessageError
from ..request import Request, RequestAborted, RequestRefused, RequestTimeout
from ._info import LobbyError, ServerInfo, validate
from .lobby import GET_SERVERS, LOBBY_ADAPTER
from .lobby_client import Lobby, _LobbyClient

__all__ = ["DEFAULT_PAGE_SIZE", "LobbyBrowser", "PageRequest", "ServerPage"]

#: Servers per page unless a request says otherwise.
DEFAULT_PAGE_SIZE = 20


class ServerPage(NamedTuple):
    """One page of a lobby's listings."""

    #: The servers on this page.
    servers: list[ServerInfo]
    #: This page's number, from 0.
    page: int
    #: How many pages there are at this page size (0 when no server is listed).
    pages: int
    #: How many servers match the request's game filter.
    total: int


class PageRequest:
    """A page asked for with :meth:`LobbyBrowser.get_servers`; filled in by ``update()``.

    Attributes:
        page: The page asked for.
        game: The game filter asked for (None: every game).
        page_size: The page size asked for (the lobby may cut it).
        done: True once the answer (or a failure) arrived.
        result: The :class:`ServerPage`, once done without error.
        error: Why the request failed, or None.
        callback: Called with the request once it is done.
    """

    def __init__(
        self,
        browser: LobbyBrowser,
        page: int,
        game: str | None,
        page_size: int,
        callback: Callable[[PageRequest], Any] | None,
    ) -> None:
        self.page, self.game, self.page_size = page, game, page_size
        self.callback = callback
        self.done = False
        self.result: ServerPage | None = None
        self.error: str | None = None
        self._browser = browser

    def __repr__(self) -> str:
        state = "pending" if not self.done else self.error or f"{len(self.servers)} server(s)"
        return f"<PageRequest page {self.page} game {self.game!r}: {state}>"

    @property
    def servers(self) -> list[ServerInfo]:
        """The servers on the page; empty until it arrives or if it failed."""
        return self.result.servers if self.result is not None else []

    def wait(self, timeout: float = 5.0) -> ServerPage:
        """Pump the browser until the answer arrives; for scripts and tests.

        Raises:
            LobbyError: The lobby refused or could not be reached.
            TimeoutError: No answer within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while not self.done and time.monotonic() < deadline:
            self._browser.update(5)
        if not self.done:
            raise TimeoutError(f"no answer from the lobby within {timeout:g} s")
        if self.result is None:
            raise LobbyError(self.error)
        return self.result


class LobbyBrowser(_LobbyClient):
    """Asks a lobby for pages of game servers; call :meth:`update` every frame.

    Results arrive three ways: in the :class:`PageRequest` that
    :meth:`get_servers` returns, through its ``callback``, and through
    :meth:`on_server_page`, which forwards to ``handler.on_server_page(request)``.

    Args:
        lobby: The lobby's host name, or ``(host, port)``.
        handler: Object with an ``on_server_page(request)`` method, or None.
        adapter: Network adapter; must match the lobby's (TCP by default).
        timeout: Seconds of silence after which the lobby counts as lost.
        request_timeout: Seconds after which an unanswered request fails.
        idle_timeout: Seconds without requests after which the connection
            is closed (the next request opens a new one).
        clock: Monotonic time source in seconds (tests drive it).
        **adapter_options: Passed on to the adapter's ``Transport``.
    """

    def __init__(
        self,
        lobby: Lobby,
        *,
        handler: Any = None,
        adapter: str | ModuleType | None = LOBBY_ADAPTER,
        timeout: float = 10.0,
        request_timeout: float = 10.0,
        idle_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        **adapter_options: Any,
    ) -> None:
        self._open_client(lobby, adapter, timeout, clock, adapter_options)
        self.handler = handler
        self.request_timeout = request_timeout
        self.idle_timeout = idle_timeout
        self._finished: list[PageRequest] = []
        self._last_used = clock()

    def get_servers(
        self,
        page: int = 0,
        game: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        callback: Callable[[PageRequest], Any] | None = None,
    ) -> PageRequest:
        """Ask for one page of listings; the answer arrives during a later :meth:`update`.

        Args:
            page: Page number, from 0.
            game: Only servers of this game; None for every game.
            page_size: Servers per page (the lobby cuts it to its limit).
            callback: Called with the :class:`PageRequest` once it is done.

        Raises:
            ValueError: ``page`` or ``page_size`` is out of range.
            ServerInfoError: ``game`` is not a valid game name.
        """
        if type(page) is not int or page < 0 or type(page_size) is not int or page_size < 1:
            raise ValueError("page must be an int >= 0 and page_size an int >= 1")
        if game is not None:
            validate("", game, 1, 0, 0, {})
        self._last_used = self._clock()
        request = PageRequest(self, page, game, page_size, callback)
        problem = self._connect() if self._connection is None else None
        if problem:
            self._finish(request, None, problem)
            return request
        generation = self._generation
        self._ask(
            GET_SERVERS,
            game,
            page,
            page_size,
            timeout=self.request_timeout,
            callback=lambda answer: self._answered(request, answer, generation),
        )
        return request

    def update(self, timeout: int = 0) -> None:
        """Exchange messages with the lobby and complete the requests answered.

        Args:
            timeout: Milliseconds to wait for network activity.
        """
        self._client.update(timeout)
        self._poll()
        idle = self._clock() - self._last_used >= self.idle_timeout
        pending = self._requests is not None and self._requests.pending
        if idle and self._connection is not None and not pending:
            self._drop("idle")
        finished, self._finished = self._finished, []
        for request in finished:
            self._done(request)

    def on_server_page(self, request: PageRequest) -> None:
        """Called when a request is done (check ``request.error``); forwards to ``handler``."""
        method = getattr(self.handler, "on_server_page", None)
        if method is not None:
            method(request)

    def _finish(self, request: PageRequest, result: ServerPage | None, error: str | None) -> None:
        request.result, request.error = result, error
        self._finished.append(request)

    def _done(self, request: PageRequest) -> None:
        request.done = True
        if request.callback is not None:
            request.callback(request)
        self.on_server_page(request)

    def _answered(self, request: PageRequest, answer: Request, generation: int) -> None:
        if generation != self._generation:
            return  # abandoned by close()
        error = answer.error
        if error is None:
            self._page(request, answer.result())
        elif isinstance(error, RequestTimeout):
            self._finish(request, None, "the lobby did not answer in time")
        elif isinstance(error, RequestRefused):
            self._finish(request, None, f"the lobby refused: {error.reason}")
        elif isinstance(error, RequestAborted):
            self._finish(request, None, self._ended(error.close_reason or "disconnected"))
        else:
            self._finish(request, None, "the lobby sent a malformed page")

    def _page(self, request: PageRequest, message: Any) -> None:
        _, page, pages, total, rows = message
        counts_ok = all(type(n) is int and n >= 0 for n in (page, pages, total))
        if not counts_ok or type(rows) is not list:
            self._finish(request, None, "the lobby sent a malformed page")
            return
        servers = [server for server in map(self._server, rows) if server is not None]
        self._finish(request, ServerPage(servers, page, pages, total), None)

    def _server(self, row: Any) -> ServerInfo | None:
        try:
            if type(row) is not list or len(row) != 8:
                raise MessageError("a listing must be an array of 8 fields")
            name, game, host, port, players, max_players, info, private = row
            validate(name, game, port, players, max_players, info, private, error=MessageError)
            if type(host) is not str or not 0 < len(host) <= 255:
                raise MessageError("host must be a non-empty str")
        except MessageError as exc:
            self._throttle(logging.WARNING, "skipped a malformed listing from the lobby: %s", exc)
            return None
        return ServerInfo(name, host, port, players, max_players, info, game, private)

    def close(self) -> None:
        """Close the lobby connection; pending requests are abandoned."""
        super().close()
