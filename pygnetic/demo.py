"""A tour of pygnetic in one command: ``python -m pygnetic.demo``.

Starts a real server and a real client on 127.0.0.1 (over ENet when pyenet is
installed, else TCP), has them chat, prints what travels and how small it is,
and exits. Needs neither pygame nor a display. With ``--verbose`` pygnetic's
own log tells where the server listens and when the connection opens and
closes, instead of the demo.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

import msgpack

import pygnetic
from pygnetic.message import MessageFactory

LINES = ["Hi, I am Tom.", "Anyone up for a game?", "gg"]


def _messages() -> tuple[MessageFactory, Any, Any]:
    factory = MessageFactory()
    chat_msg = factory.register("chat_msg", ("player", "msg"))
    position = factory.register("position", ("x", "y"), delivery="unreliable_sequenced")
    return factory, chat_msg, position


class ShoutingServer(pygnetic.Handler):
    """Server side: answers every chat line in capitals, counts positions."""

    positions = 0

    def net_chat_msg(self, message: Any, **kwargs: Any) -> None:
        """Shout the line back."""
        print(f"  server got  {message}")
        self.connection.net_chat_msg("Server", message.msg.upper())

    def net_position(self, message: Any, **kwargs: Any) -> None:
        """Count the update."""
        ShoutingServer.positions += 1


class Player(pygnetic.Handler):
    """Client side: prints what comes back.

    Args:
        narrate: Say when the connection opens and closes; False when
            pygnetic's log is shown and says it already.
    """

    def __init__(self, narrate: bool = True) -> None:
        self.replies: list[Any] = []
        self.narrate = narrate

    def on_connect(self) -> None:
        """Say where we are connected."""
        if self.narrate:
            host, port = self.connection.address
            print(f"  connected to {host}:{port} over {self.connection.adapter}")

    def net_chat_msg(self, message: Any, **kwargs: Any) -> None:
        """Print and keep the reply."""
        print(f"  client got  {message}")
        self.replies.append(message)

    def on_disconnect(self) -> None:
        """Say why the connection ended."""
        if self.narrate:
            print(f"  disconnected: {self.connection.close_reason}")


def _show_sizes(factory: MessageFactory, chat_msg: Any) -> None:
    as_dict = msgpack.packb({"action": "chat_msg", "player": "Tom", "msg": "Test message"})
    compact = factory.pack(chat_msg("Tom", "Test message"))
    print("Message sizes (the FAQ's example):")
    print(f"  a msgpack dict:           {len(as_dict)} bytes")
    print(f"  a registered chat_msg:    {len(compact)} bytes  {compact!r}")


def _run(adapter: str | None, timeout: float, narrate: bool = True) -> int:
    factory, chat_msg, _ = _messages()
    _show_sizes(factory, chat_msg)
    print()  # before the server: with --verbose its log line comes next
    server = pygnetic.Server(
        "127.0.0.1", 0, handler=ShoutingServer, message_factory=factory, adapter=adapter
    )
    client = pygnetic.Client(message_factory=factory, adapter=adapter)
    if narrate:
        adapters = " and ".join(getattr(m, "LABEL", m.NAME) for m in server.adapters)
        print(f"Server on 127.0.0.1:{server.address[1]} ({adapters})")
    connection = client.connect("127.0.0.1", server.address[1])
    player = Player(narrate)
    connection.add_handler(player)
    for line in LINES:
        connection.net_chat_msg("Tom", line)
    for x in range(30):
        connection.net_position(x, 2 * x)
    deadline = time.monotonic() + timeout
    while len(player.replies) < len(LINES) and time.monotonic() < deadline:
        server.update(5)
        client.update(5)
    connection.disconnect("demo over")
    client.update(0)
    server.update(10)
    print(
        f"\nClient sent {connection.messages_sent} messages in {connection.data_sent} bytes "
        f"and received {connection.messages_received}; the server saw "
        f"{ShoutingServer.positions} of 30 unreliable position updates."
    )
    client.close()
    server.close()
    if len(player.replies) != len(LINES):
        print("The demo did not finish in time.")
        return 1
    print("Done.")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m pygnetic.demo", description=__doc__)
    parser.add_argument("--adapter", choices=["enet", "socket"], help="network adapter")
    parser.add_argument("--timeout", type=float, default=10.0, help="give up after seconds")
    parser.add_argument("--verbose", action="store_true", help="show pygnetic's log")
    args = parser.parse_args(argv)
    pygnetic.init(logging_lvl=logging.INFO if args.verbose else logging.WARNING)
    return _run(args.adapter, args.timeout, narrate=not args.verbose)


if __name__ == "__main__":
    raise SystemExit(main())
