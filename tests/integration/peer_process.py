"""A pygnetic peer in its own process, for tests that kill or freeze it.

Usage: python peer_process.py client|server ADAPTER PORT
A client connects to PORT and says hello; a server listens on a free port and
prints it. Either prints READY, then serves until killed.
"""

import sys

import pygnetic
from pygnetic.message import MessageFactory


def main(role, adapter, port):
    factory = MessageFactory("msgpack")
    factory.register("chat_msg", ("player", "msg"))
    if role == "server":
        host = pygnetic.Server(
            "127.0.0.1", 0, message_factory=factory, adapter=adapter, timeout=60
        )
        print(host.address[1], flush=True)
    else:
        host = pygnetic.Client(message_factory=factory, adapter=adapter, timeout=60)
        connection = host.connect("127.0.0.1", int(port))
        connection.net_chat_msg("doomed", "hello")
    print("READY", flush=True)
    while True:
        host.update(10)


if __name__ == "__main__":
    main(*sys.argv[1:4])
