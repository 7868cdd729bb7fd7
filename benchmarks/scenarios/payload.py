"""Bytes per message: what one chat_msg costs in the stream and on the wire.

Reuses the throughput workers with fewer messages. ``transport`` counts the
bytes handed to the kernel in both directions (ENet: UDP payloads with ENet's
headers and acknowledgements; TCP: stream bytes), ``wire`` adds the IPv4 and
UDP/TCP headers of every datagram or segment, in both directions, per message.
The figures come from the client's counters (pyenet host totals, Linux
TCP_INFO), read after the server has received every message.
"""

from __future__ import annotations

from . import Metric, throughput

NAME = "bytes"
TITLE = "Bytes per chat_msg"
METRICS = [
    Metric("transport", "transport bytes/msg", "B", False, primary=True),
    Metric("wire", "wire bytes/msg (IP headers incl.)", "B", False),
]


def params(quick: bool) -> dict:
    return {"messages": 2000 if quick else 10_000, "timeout": 20.0 if quick else 60.0}


def run(impl: str, p: dict) -> dict:
    result = throughput.run_once(impl, p["messages"], p["timeout"])
    wire = result["wire"]
    if wire is None:
        raise RuntimeError("no byte counters on this platform")
    n = result["chats"]
    return {"transport": wire["transport_bytes"] / n, "wire": wire["wire_bytes"] / n}
