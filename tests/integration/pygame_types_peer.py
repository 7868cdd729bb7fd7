"""Peers of test_pygame_types.py: a relay server without pygame, and a pygame-ce client.

Usage: python pygame_types_peer.py server
       python pygame_types_peer.py send PORT

The server cannot import pygame (``sys.modules['pygame'] = None`` before
pygnetic is imported, as on a machine without it); it listens over TCP on a
free port on 127.0.0.1, prints the port, and sends every ``shapes`` message
on to every other client, after a ``report`` of what it received them as.

The sender runs where pygame-ce is installed: it sends ``SHAPES`` as
pygame-ce values, then waits for the same message to come back (the test's
client sends what it received), checks that it arrived as pygame-ce's own
types, and prints ``ECHO OK`` or ``ECHO WRONG ...``.

Both exit when their standard input closes.
"""

import sys

if __name__ == "__main__" and sys.argv[1:2] == ["server"]:
    sys.modules["pygame"] = None  # `import pygame` now raises ImportError

import threading
import time

import pygnetic
from pygnetic.message import MessageFactory

DEADLINE = 20.0


def factory():
    messages = MessageFactory("msgpack")
    messages.register("shapes", ("pos", "box", "rect", "color", "more"))
    messages.register("report", ("text",))
    return messages


def shapes(pygame):
    """The values sent: every pygame type, alone and nested."""
    return (
        pygame.Vector2(0.1, -2.25),
        pygame.FRect(0.1, 1.25, 3.0, -4.75),
        pygame.Rect(-1, 2, 30, 2**31 - 1),
        pygame.Color(10, 20, 30, 40),
        [{"up": pygame.Vector3(1.0, 2.5, -3.0)}, pygame.Vector2(float("inf"), 1e300)],
    )


def described(value):
    if isinstance(value, list):
        return "[" + ", ".join(map(described, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {described(v)}" for k, v in value.items()) + "}"
    return f"{type(value).__module__}.{type(value).__name__}"


def plain(value):
    """The components of every value, as tuples (pygame's == is approximate: inf != inf)."""
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return tuple(value)


class Relay(pygnetic.Handler):
    def net_shapes(self, message, **kwargs):
        try:
            import pygame  # noqa: F401
        except ImportError:
            pygame_here = "pygame cannot be imported"
        else:
            pygame_here = "pygame imported"
        text = f"{pygame_here}; received {described(list(message))}"
        for connection in self.server.connections():
            if connection is not self.connection:
                connection.net_report(text)
                connection.send(message)


def until_stdin_closes():
    closed = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), closed.set()), daemon=True).start()
    return closed


def serve():
    server = pygnetic.Server("127.0.0.1", 0, handler=Relay, message_factory=factory(),
                             adapter="socket")  # fmt: skip
    Relay.server = server
    closed = until_stdin_closes()
    print(server.address[1], flush=True)
    while not closed.is_set():
        server.update(10)
    server.close()


class Echo(pygnetic.Handler):
    received = None

    def net_shapes(self, message, **kwargs):
        Echo.received = message


def send(port):
    import pygame

    closed = until_stdin_closes()
    client = pygnetic.Client(message_factory=factory(), adapter="socket")
    connection = client.connect("127.0.0.1", port)
    connection.add_handler(Echo())
    sent = shapes(pygame)
    connection.net_shapes(*sent)
    deadline = time.monotonic() + DEADLINE
    while Echo.received is None and time.monotonic() < deadline and not closed.is_set():
        client.update(10)
    echo = Echo.received
    if echo is None:
        print(f"ECHO NONE: {connection.state}, {connection.close_reason!r}", flush=True)
    elif described(list(echo)) == described(list(sent)) and plain(list(echo)) == plain(list(sent)):
        print("ECHO OK", flush=True)
    else:
        print(f"ECHO WRONG {described(list(echo))} {list(echo)!r}", flush=True)
    while not closed.is_set():
        client.update(10)
    client.close()


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve()
    else:
        send(int(sys.argv[2]))
