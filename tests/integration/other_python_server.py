"""An echo server for test_other_python.py, run by another Python interpreter.

Usage: python other_python_server.py default|socket|enet
Listens on 127.0.0.1, on a free port, with pygnetic's default adapter choice
(or only the one named), prints the port on one line, answers every chat_msg
in capitals, and exits when its standard input closes: when the test is done,
or when the test process dies.
"""

import sys
import threading
from importlib import metadata

import pygnetic
from pygnetic.message import MessageFactory


class Echo(pygnetic.Handler):
    def net_chat_msg(self, message, **kwargs):
        self.connection.net_chat_msg("server", message.msg.upper())


def _enet_distribution():
    for name in ("pyenet", "pyenet-vladfi"):
        try:
            return f"{name} {metadata.version(name)}"
        except metadata.PackageNotFoundError:
            continue
    return "no enet distribution"


def main(adapter):
    factory = MessageFactory("msgpack")
    factory.register("chat_msg", ("player", "msg"))
    server = pygnetic.Server(
        "127.0.0.1",
        0,
        handler=Echo,
        message_factory=factory,
        adapter=None if adapter == "default" else adapter,
    )
    stdin_closed = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stdin_closed.set()), daemon=True).start()
    print(server.address[1], flush=True)
    # For the test's failure messages: what really served it.
    print(
        f"Python {sys.version.split()[0]}, {_enet_distribution()}, pygnetic from "
        f"{pygnetic.__file__}, listening with {[module.NAME for module in server.adapters]}",
        file=sys.stderr,
        flush=True,
    )
    while not stdin_closed.is_set():
        server.update(10)
    server.close()


if __name__ == "__main__":
    main(sys.argv[1])
