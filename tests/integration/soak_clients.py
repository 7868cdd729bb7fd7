"""The soak test's well-behaved clients, in a process of their own.

Usage: python soak_clients.py ADAPTER PORT COUNT FIRST_NUMBER RATE

Connects COUNT pygnetic clients over ADAPTER to 127.0.0.1:PORT and prints
``{"ready": N}`` once N of them are connected (all, or as many as made it in
30 s). Each then sends RATE reliable ``seq`` messages a second, numbered
0, 1, 2, ..., and checks that the server's echoes come back complete and in
order. Each echo's delay counts in the tenth of a second its message was
sent in. When stdin says ``stop`` (or closes), the clients stop sending, wait
up to 15 s for the last echoes, print one JSON report and disconnect.

Times in the report are ``time.monotonic()``, the same clock in every
process, so the test can tell which phase of the soak they fall in.
"""

import json
import select
import sys
import time
from collections import deque

from soak_server import soak_factory

import pygnetic

#: Bytes of padding per message: a small game message.
PAD = "p" * 32
#: Seconds to wait for everyone to connect, and for the last echoes.
CONNECT_WAIT = 30.0
DRAIN_WAIT = 15.0
#: Errors kept per client.
KEEP = 5


class Good(pygnetic.Handler):
    """One well-behaved client's checks: its echoes, in order, and how long they took."""

    def __init__(self, number, latencies):
        self.number = number
        self.latencies = latencies  # tenth of a second sent in -> longest echo time
        self.sent_at = deque()
        self.sent = 0
        self.echoed = 0
        self.errors = []
        self.disconnect = None
        self.last_echo = None  # when the last echo came: a stuck client's stopped there

    def send_next(self, now):
        self.connection.net_seq(self.number, self.sent, PAD)
        self.sent_at.append(now)
        self.sent += 1

    def net_seq(self, message, **kwargs):
        wrong = message.client != self.number or message.number != self.echoed
        if wrong and len(self.errors) < KEEP:
            self.errors.append(f"echo {message.client}/{message.number}, expected {self.echoed}")
        self.echoed += 1
        self.last_echo = now = time.monotonic()
        if self.sent_at:
            sent = self.sent_at.popleft()
            tenth = int(sent * 10)  # a delay counts when the message was sent
            self.latencies[tenth] = max(self.latencies.get(tenth, 0.0), now - sent)

    def net_chat_msg(self, message, **kwargs):
        self.errors.append("got a chat_msg meant for the attacker")

    def on_disconnect(self):
        connection = self.connection
        self.disconnect = {
            "client": self.number,
            "t": time.monotonic(),
            "code": int(connection.close_code),
            "reason": connection.close_reason,
        }


def _stdin_says_stop():
    readable, _, _ = select.select([sys.stdin], [], [], 0)
    return bool(readable) and sys.stdin.readline().strip() in ("stop", "")


def _update_all(clients):
    for client in clients:
        client.update(0)


def main(adapter, port, count, first, rate):
    factory = soak_factory()
    latencies = {}
    clients, goods = [], []
    for number in range(first, first + count):
        client = pygnetic.Client(message_factory=factory, adapter=adapter)
        good = Good(number, latencies)
        client.connect("127.0.0.1", port).add_handler(good)
        clients.append(client)
        goods.append(good)
    deadline = time.monotonic() + CONNECT_WAIT
    while time.monotonic() < deadline and not all(g.connection.connected for g in goods):
        _update_all(clients)
        time.sleep(0.005)
    print(json.dumps({"ready": sum(g.connection.connected for g in goods)}), flush=True)

    period = 1.0 / rate
    start = time.monotonic()
    due = [start + period * index / count for index in range(count)]  # spread over a period
    while not _stdin_says_stop():
        now = time.monotonic()
        for index, good in enumerate(goods):
            if now >= due[index] and good.connection.connected:
                good.send_next(now)
                # No bursts to catch up after a stall: a game sends at its own pace.
                due[index] = max(due[index] + period, now - period)
        _update_all(clients)
        time.sleep(0.004)

    deadline = time.monotonic() + DRAIN_WAIT
    while time.monotonic() < deadline and any(
        g.echoed < g.sent and g.connection.connected for g in goods
    ):
        _update_all(clients)
        time.sleep(0.004)
    report = {
        "adapter": adapter,
        "clients": count,
        "sent": sum(g.sent for g in goods),
        "echoed": sum(g.echoed for g in goods),
        "missing": [[g.number, g.sent, g.echoed, g.last_echo] for g in goods if g.echoed < g.sent],
        "errors": {g.number: g.errors for g in goods if g.errors},
        "disconnects": [g.disconnect for g in goods if g.disconnect is not None],
        "latency_by_tenth": latencies,
    }
    print(json.dumps(report), flush=True)
    for client in clients:
        client.close(linger_ms=100)


if __name__ == "__main__":
    adapter, port, count, first, rate = sys.argv[1:6]
    main(adapter, int(port), int(count), int(first), float(rate))
