"""What the JavaScript client's browser tests stand on: a web server, Chromium, a pump thread.

* :func:`static_site` serves the repository root (so ``/examples/web/`` and
  ``/node_modules/`` are both there) on 127.0.0.1, on a free port, from a thread.
* :func:`chromium` launches the system's headless Chromium through
  Playwright's sync API; :func:`missing` says why a test must be skipped.
* :class:`Pump` runs pygnetic hosts' ``update()`` on a thread of their own, and
  runs what a test asks on that thread too (:meth:`Pump.call`): a host is used
  from one thread only.

Nothing here sleeps for time to pass: waits are on conditions, each bounded.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import importlib.util
import queue
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MSGPACK_JS = ROOT / "node_modules" / "@msgpack" / "msgpack" / "dist.esm" / "index.mjs"


def missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        return f"no Chromium at {CHROMIUM}"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not MSGPACK_JS.exists():
        return "node_modules/@msgpack/msgpack is not installed (npm install at the repo root)"
    if importlib.util.find_spec("websockets") is None:
        return "the websockets package is not installed (pip install -e '.[websocket]')"
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")  # each test sees the files as they are
        super().end_headers()


@contextlib.contextmanager
def static_site(root: Path = ROOT) -> Iterator[str]:
    """Serve ``root`` over HTTP on 127.0.0.1; yield its base URL, ``http://127.0.0.1:PORT``."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="static site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Yield a headless Chromium (a Playwright ``Browser``)."""
    from playwright.sync_api import sync_playwright

    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Pump:
    """Updates hosts on a thread of its own, and runs calls on it for the test.

    Args:
        hosts: Objects with ``update(timeout_ms)``, pumped in turn, each a few
            milliseconds at most, until :meth:`stop`.
    """

    def __init__(self, *hosts: Any) -> None:
        self.hosts = list(hosts)
        self._calls: queue.Queue[tuple[Callable[[], Any], queue.Queue[Any]]] = queue.Queue()
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="pygnetic pump", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for host in self.hosts:
                    host.update(2)
                for _ in range(self._calls.qsize()):  # what was asked before this round
                    call, answer = self._calls.get_nowait()
                    try:
                        answer.put((True, call()))
                    except Exception as exc:  # handed back to the caller
                        answer.put((False, exc))
            except BaseException as exc:  # a host failed: the test reads it in call()
                self.error = exc
                return

    def call(self, function: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run ``function()`` on the pump's thread and return what it returned (or raise)."""
        answer: queue.Queue[Any] = queue.Queue()
        self._calls.put((function, answer))
        try:
            ok, value = answer.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"the pump thread did not run the call ({self.error!r})"
            ) from None
        if not ok:
            raise value
        return value

    def add(self, make: Callable[[], Any]) -> Any:
        """Make a host on the pump's thread (``make()``), pump it from now on, and return it."""

        def adding() -> Any:
            host = make()
            self.hosts.append(host)
            return host

        return self.call(adding)

    def wait_until(self, condition: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Check ``condition()`` on the pump's thread after each round until it is true."""
        done = threading.Event()
        result: list[Any] = []

        def check() -> None:
            value = condition()
            if value:
                result.append(value)
                done.set()
            elif not self._stop.is_set() and not done.is_set():
                self._calls.put((check, queue.Queue()))

        self._calls.put((check, queue.Queue()))
        if not done.wait(timeout):
            raise AssertionError(f"condition not met within {timeout} s ({self.error!r})")
        return result[0]

    def stop(self, close: Callable[[], Any] | None = None) -> None:
        """Run ``close()`` on the pump's thread (closing the hosts), then end the thread."""
        def closing() -> None:
            try:
                if close is not None:
                    close()
            finally:
                self._stop.set()  # no update() after the hosts closed

        if self._thread.is_alive():
            with contextlib.suppress(AssertionError):
                self.call(closing)
        self._stop.set()
        self._thread.join(10)
