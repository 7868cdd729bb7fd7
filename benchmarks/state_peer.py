"""The other end of ``benchmarks.state``'s loopback reference: ``python -m benchmarks.state_peer``.

A TCP echo server in plain Python sockets: it listens on 127.0.0.1 (a port
the kernel picks), prints ``listening on 127.0.0.1:PORT``, echoes what one
connection sends until it closes, and exits. What it measures, with the
blocking client in :func:`benchmarks.state.echo_round_trips`, is the
cheapest round trip a Python program makes over loopback on this machine:
the part of every request to the service that no code of pygnetic's can
take away.
"""

from __future__ import annotations

import socket


def main() -> int:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(30)
    host, port = server.getsockname()
    print(f"listening on {host}:{port}", flush=True)
    connection, _ = server.accept()
    server.close()
    connection.settimeout(None)
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with connection:
        while True:
            data = connection.recv(65536)
            if not data:
                return 0
            connection.sendall(data)


if __name__ == "__main__":
    raise SystemExit(main())
