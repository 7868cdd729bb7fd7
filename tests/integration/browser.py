"""Python in a real browser for the tests: headless Chromium running Pyodide, with pygnetic.

A test module takes these fixtures with ``pytest_plugins = ["browser"]``:

* ``chromium`` (session scope): the headless Chromium every browser test
  shares (Playwright's sync API allows one instance per process);
  ``web_files`` (session scope): a :class:`StaticServer` of the repository
  root (``/examples/web/``, ``/node_modules/``), at ``web_files.url``.
* ``pyodide`` (module scope): a :class:`PyodidePage`, a Chromium page that
  booted Pyodide and holds pygnetic, msgpack (pure Python) and
  :data:`HELPERS` (``await pump(client, until=...)``). ``pyodide.run(code)``
  runs Python there and returns its ``result`` variable.
* ``server_thread``: :class:`ServerThread` factory; a pygnetic server pumped
  in a background thread, closed at teardown.

Everything skips, saying why, where the browser cannot run: no system
Chromium (``apt-get install chromium``), no Python ``playwright`` package, or
no ``node_modules`` at the repository root (``npm ci``). Playwright
drives the system's Chromium; it never downloads a browser.
"""

from __future__ import annotations

import concurrent.futures
import functools
import http.server
import io
import json
import queue
import shutil
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYODIDE = ROOT / "node_modules" / "pyodide"
MSGPACK_JS = ROOT / "node_modules" / "@msgpack" / "msgpack" / "dist.esm" / "index.mjs"
#: Chromium's flags: headless, and nothing that reaches out to the network,
#: which this machine's closed network would make hang or fail.
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
#: Where the page finds its Python files: a zip the test server makes.
SITE_ZIP = "/__pygnetic_tests__/site.zip"
PAGE = "/__pygnetic_tests__/page.html"
#: Where the zip is unpacked in Pyodide's file system (put first on sys.path).
SITE_DIR = "/home/pyodide/site"
#: Seconds any one Python run in the page may take.
RUN_TIMEOUT = 30.0

#: A module written beside pygnetic in the page: what browser tests share.
HELPERS = '''
"""Helpers for pygnetic tests in the browser."""

import asyncio


async def pump(*hosts, until, timeout=5.0):
    """Update ``hosts`` as a pygbag game loop does until ``until()`` is true; say if it was."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not until():
        if loop.time() > deadline:
            return False
        for host in hosts:
            host.update()
        await asyncio.sleep(0)
    return True
'''

_PAGE_HTML = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>pygnetic browser tests</title>
<script src="/node_modules/pyodide/pyodide.js"></script>
<script>
window.bootPython = async function () {{
  const pyodide = await loadPyodide({{ indexURL: "/node_modules/pyodide/" }});
  const site = await (await fetch("{SITE_ZIP}")).arrayBuffer();
  pyodide.unpackArchive(site, "zip", {{ extractDir: "{SITE_DIR}" }});
  pyodide.runPython("import sys; sys.path.insert(0, '{SITE_DIR}')");
  window.pyodide = pyodide;
}};
window.runPython = async function (code) {{
  const namespace = pyodide.globals.get("dict")();
  try {{
    await pyodide.runPythonAsync(code, {{ globals: namespace }});
    const result = namespace.get("result");
    return result === undefined ? "null" : pyodide.runPython(
      "import json; json.dumps(result)", {{ globals: namespace }});
  }} finally {{
    namespace.destroy();
  }}
}};
</script></head><body></body></html>
"""


def skip_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if chromium_path() is None:
        return "no Chromium (the system's chromium package; apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not (PYODIDE / "pyodide.js").exists() or not MSGPACK_JS.exists():
        return "no node_modules/pyodide or @msgpack/msgpack: run `npm ci` at the repository root"
    return None


def chromium_path() -> str | None:
    """The system's Chromium: ``/usr/bin/chromium``, else ``chromium`` on the PATH."""
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def site_zip() -> bytes:
    """pygnetic's modules, msgpack's pure-Python ones and :data:`HELPERS`, as one zip."""
    import msgpack

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted((ROOT / "pygnetic").rglob("*")):
            if path.suffix in (".py", ".typed") and "__pycache__" not in path.parts:
                archive.write(path, str(path.relative_to(ROOT)))
        # msgpack falls back to fallback.py when its C extension fails to import.
        msgpack_dir = Path(msgpack.__file__).parent
        for name in ("__init__.py", "exceptions.py", "ext.py", "fallback.py"):
            archive.write(msgpack_dir / name, f"msgpack/{name}")
        archive.writestr("browser_helpers.py", HELPERS)
    return buffer.getvalue()


class _Files(http.server.SimpleHTTPRequestHandler):
    """The repository root, the test page and the site zip; ``.wasm`` as ``application/wasm``."""

    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".mjs": "text/javascript",
        ".js": "text/javascript",
    }

    def end_headers(self) -> None:
        """No caching: each test sees the files as they are."""
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    virtual: dict[str, tuple[str, bytes]] = {}

    def do_GET(self) -> None:
        """Serve a virtual file, else one of the repository's."""
        found = self.virtual.get(self.path.split("?")[0])
        if found is None:
            super().do_GET()
            return
        kind, body = found
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a failing test shows the browser console instead."""


@functools.cache
def _handler() -> type[_Files]:
    virtual = {
        PAGE: ("text/html; charset=utf-8", _PAGE_HTML.encode()),
        SITE_ZIP: ("application/zip", site_zip()),
        "/favicon.ico": ("image/x-icon", b""),
    }
    return type("Files", (_Files,), {"virtual": virtual})


class StaticServer:
    """An HTTP server on 127.0.0.1 (port 0) serving the repository root, in a thread."""

    def __init__(self) -> None:
        handler = functools.partial(_handler(), directory=str(ROOT))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving and release the port."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join()


class PyodidePage:
    """A Chromium page running Pyodide with pygnetic; :meth:`run` runs Python in it."""

    def __init__(self, page: Any, console: list[str]) -> None:
        self.page = page
        self.console = console
        #: Seconds booting Pyodide took (loading the runtime and pygnetic's files).
        self.boot_seconds = 0.0

    def boot(self, url: str) -> None:
        """Load the test page and boot Pyodide there."""
        started = time.monotonic()
        self.page.goto(url + PAGE)
        self._evaluate("() => window.bootPython()")
        self.boot_seconds = time.monotonic() - started

    def run(self, code: str) -> Any:
        """Run ``code`` (top-level ``await`` allowed) in a fresh namespace; its ``result``.

        ``result`` travels as JSON. A Python exception fails the test with its
        traceback and the browser console.
        """
        return json.loads(self._evaluate("(code) => window.runPython(code)", code))

    def _evaluate(self, script: str, argument: Any = None) -> Any:
        from playwright.sync_api import Error

        try:
            return self.page.evaluate(script, argument)
        except Error as exc:
            raise AssertionError(f"{exc.message}\n{self.console_text()}") from None

    def console_text(self) -> str:
        """The browser console so far, for failure messages."""
        return "browser console:\n" + "\n".join(self.console[-200:])


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """The headless Chromium (a Playwright ``Browser``); skips, saying why, where there is none."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def web_files(chromium: Any) -> Iterator[StaticServer]:
    """The repository root and the test page, served on 127.0.0.1."""
    server = StaticServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def pyodide(chromium: Any, web_files: StaticServer) -> Iterator[PyodidePage]:
    """A page that booted Pyodide with pygnetic, for the tests of one module."""
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(RUN_TIMEOUT * 1000)
    console: list[str] = []
    page.on("console", lambda message: console.append(f"[{message.type}] {message.text}"))
    page.on("pageerror", lambda error: console.append(f"[pageerror] {error}"))
    booted = PyodidePage(page, console)
    booted.boot(web_files.url)
    try:
        yield booted
    finally:
        context.close()


class ServerThread:
    """A host (a pygnetic Server, say) made and updated in a background thread.

    The host is not thread-safe, so the test reaches it only through
    :meth:`call` and :meth:`wait_for`, which run in that thread between updates.

    Args:
        make: Builds the host, in the thread; it needs ``update(ms)`` and ``close()``.
    """

    def __init__(self, make: Callable[[], Any]) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[Any], Any], concurrent.futures.Future[Any]]]
        self._calls = queue.SimpleQueue()
        self._stop = threading.Event()
        made: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._main, args=(make, made), daemon=True)
        self._thread.start()
        #: ``(host, port)`` the host bound, read once it is made.
        self.address = made.result(timeout=10)

    def _main(self, make: Callable[[], Any], made: concurrent.futures.Future[Any]) -> None:
        try:
            host = make()
        except BaseException as exc:
            made.set_exception(exc)
            return
        made.set_result(getattr(host, "address", None))
        watching: list[tuple[Callable[[Any], Any], concurrent.futures.Future[Any]]] = []
        try:
            while not self._stop.is_set():
                host.update(5)
                while not self._calls.empty():
                    watching.append(self._calls.get())
                watching = [entry for entry in watching if not _settled(host, *entry)]
        finally:
            host.close()

    def call(self, function: Callable[[Any], Any], timeout: float = 10.0) -> Any:
        """Run ``function(host)`` in the host's thread; its result."""
        return self.wait_for(function, timeout, once=True)

    def wait_for(
        self, condition: Callable[[Any], Any], timeout: float = 10.0, *, once: bool = False
    ) -> Any:
        """Wait until ``condition(host)``, checked after each update, is true; it, or False.

        With ``once``, return its first value, true or not.
        """
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._calls.put((condition if not once else _Once(condition), future))
        try:
            return future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            return False

    def close(self) -> None:
        """Stop updating, close the host and end the thread."""
        self._stop.set()
        self._thread.join(timeout=10)


class _Once:
    """A condition that is settled by its first value."""

    def __init__(self, function: Callable[[Any], Any]) -> None:
        self.function = function

    def __call__(self, host: Any) -> tuple[Any]:
        return (self.function(host),)


def _settled(
    host: Any, condition: Callable[[Any], Any], future: concurrent.futures.Future[Any]
) -> bool:
    if future.cancelled():
        return True
    try:
        value = condition(host)
    except BaseException as exc:
        future.set_exception(exc)
        return True
    if isinstance(condition, _Once):
        future.set_result(value[0])
        return True
    if value:
        future.set_result(value)
        return True
    return False


@pytest.fixture
def server_thread() -> Iterator[Callable[[Callable[[], Any]], ServerThread]]:
    """Start a :class:`ServerThread`: ``server_thread(lambda: Server(...))``; closed after."""
    started: list[ServerThread] = []

    def start(make: Callable[[], Any]) -> ServerThread:
        thread = ServerThread(make)
        started.append(thread)
        return thread

    yield start
    for thread in started:
        thread.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Add the browser console to the report of a failed test that used the page."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    page = getattr(item, "funcargs", {}).get("pyodide")
    if report.failed and isinstance(page, PyodidePage):
        report.sections.append(("browser console", page.console_text()))
