"""What every implementation shares: the messages, their payloads, small helpers."""

from __future__ import annotations

import socket
import statistics
import struct
import time

# The messages, in registration order (type id = position). Every implementation
# speaks exactly these, with the same field values.
CHAT, PING, PONG, STATE, MOVE = range(5)
MESSAGES = [
    ("chat_msg", ("player", "msg"), {}),
    ("ping", ("seq",), {}),
    ("pong", ("seq",), {}),
    # Game state: fast-changing, so unreliable sequenced on its own ENet channel.
    (
        "state",
        ("x", "y", "z", "vx", "vy", "vz", "yaw", "pitch"),
        {"delivery": "unreliable_sequenced", "channel": 1},
    ),
    ("move", ("dx", "dy"), {}),
]
CHAT_ARGS = ("Tom", "Test message")
CHANNELS = 2  # ENet channels per connection, the same for every ENet implementation
STATE_CHANNEL = 1


def state_values(frame: int) -> tuple[float, ...]:
    """Eight floats that change every frame, as a game's entity state would."""
    base = frame * 0.05
    return (base, base + 1.5, 0.25, 1.0, -1.0, 0.5, base * 2.0, 0.125)


# Throughput senders queue this many messages, then pump the network once.
SEND_BATCH = 100

now = time.perf_counter  # CLOCK_MONOTONIC on Linux: comparable between processes


def wait_until(condition, pump, timeout: float, step_ms: int = 5) -> bool:
    """Call ``pump(step_ms)`` until ``condition()`` holds or ``timeout`` seconds pass."""
    deadline = now() + timeout
    while not condition():
        if now() > deadline:
            return False
        pump(step_ms)
    return True


def percentile(values, fraction: float) -> float:
    """The ``fraction`` quantile (0..1) of ``values``, nearest-rank."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def median(values) -> float:
    return statistics.median(values)


# -- bytes on the wire ---------------------------------------------------------------

IPV4_HEADER = 20
UDP_HEADER = 8
TCP_HEADER = 32  # 20 bytes plus the 12-byte timestamp option Linux uses on loopback

# Fields of Linux's struct tcp_info (include/uapi/linux/tcp.h), by offset.
_RECEIVED = struct.Struct("=QII")  # 128: bytes_received, segs_out, segs_in
_SENT = struct.Struct("=Q")  # 200: bytes_sent (Linux 4.19+), retransmissions included


def tcp_wire(sock: socket.socket) -> dict | None:
    """Bytes and segments this TCP socket exchanged, from the kernel (Linux only)."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    except (OSError, AttributeError):
        return None
    if len(info) < 200 + _SENT.size:
        return None
    received, segs_out, segs_in = _RECEIVED.unpack_from(info, 128)
    (sent,) = _SENT.unpack_from(info, 200)
    payload = sent + received
    return {
        "transport_bytes": payload,
        "wire_bytes": payload + (segs_out + segs_in) * (IPV4_HEADER + TCP_HEADER),
        "datagrams": segs_out + segs_in,
    }


def enet_wire(host) -> dict:
    """Bytes and datagrams an ENet host exchanged (UDP payloads include ENet's headers)."""
    payload = host.totalSentData + host.totalReceivedData
    datagrams = host.totalSentPackets + host.totalReceivedPackets
    return {
        "transport_bytes": payload,
        "wire_bytes": payload + datagrams * (IPV4_HEADER + UDP_HEADER),
        "datagrams": datagrams,
    }


def free_tcp_listener(host: str = "127.0.0.1") -> socket.socket:
    """A listening, non-blocking TCP socket on a port the kernel picked."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, 0))
    server.listen(1024)
    server.setblocking(False)
    return server
