"""The soak test's server, in a process of its own so that its memory is its own.

Usage: python soak_server.py CONN_LIMIT

Listens on TCP and ENet at once on a free port of 127.0.0.1, prints
``{"port": N}``, then serves and echoes every message until stdin says
``stop`` or closes. The well-behaved clients' ``seq`` messages are checked:
each client's numbers must arrive in order, without gaps. Commands, one per
line on stdin:

``phase NAME``
    Start a new phase: the longest ``update()``, the peak memory, the log
    lines and the errors are counted afresh.
``report``
    Print the current phase's numbers as one JSON line: the longest
    ``update()`` (wall time, the CPU time it got, when it began), the
    garbage collector's pauses, the memory, the log lines, the UDP drops.
``stall SECONDS``
    Do nothing for SECONDS, as a slow ``update()`` would: the control
    experiment for an attack that makes the server stall.
``stop``
    Close the server, print a last report, and exit.

Peak memory is the kernel's high-water mark of the resident set
(``VmHWM`` in ``/proc/self/status``), reset at every phase through
``/proc/self/clear_refs``; the kernel tracks it between samples too, so no
peak is missed. (``ru_maxrss`` would not do: a process started with vfork
inherits its parent's peak.)
"""

import gc
import json
import logging
import sys
import threading
import time
import traceback
from queue import Empty, SimpleQueue

import pygnetic
from pygnetic.message import MessageFactory

#: Errors and log lines kept per phase, to show in a report.
KEEP = 5
#: Order errors kept in all.
KEEP_ORDER_ERRORS = 50


def soak_factory():
    """The soak's messages: ``chat_msg`` for the attacker (attacks use the first), ``seq``."""
    factory = MessageFactory("msgpack")
    factory.register("chat_msg", ("player", "msg"))
    factory.register("seq", ("client", "number", "pad"))
    return factory


def memory_kib():
    """``(resident now, peak since the last reset)`` of this process, in KiB."""
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                values[line[:5]] = int(line.split()[1])
    return values["VmRSS"], values["VmHWM"]


def udp_drops(port):
    """Datagrams the kernel dropped because the UDP socket on ``port`` was full, or None.

    ENet's peers all share the server's one UDP socket, so a flood that
    fills it costs the good clients their packets too.
    """
    with open("/proc/net/udp") as table:
        next(table)
        for line in table:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                return int(fields[-1])
    return None


def reset_peak_memory():
    """Make the kernel's peak resident set start again from the current one."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


class Phase:
    """What the server counts while one attack runs."""

    def __init__(self, name, port):
        self.name = name
        self.port = port
        self.started = time.monotonic()
        self.updates = 0
        self.longest_update = 0.0
        self.longest_update_cpu = 0.0  # CPU time of the longest: less means others had the CPU
        self.longest_update_at = 0.0
        self.slow_updates = 0  # over 100 ms
        self.cpu_start = time.process_time()
        self.gc_longest = 0.0
        self.gc_total = 0.0
        self.gc_full = 0
        self.errors = []
        self.error_count = 0
        self.log_lines = 0
        self.log_longest = 0
        self.log_sample = []
        reset_peak_memory()
        self.rss_start = memory_kib()[0]
        self.udp_drops = udp_drops(port) if port else None

    def report(self, server):
        rss, peak = memory_kib()
        drops = udp_drops(self.port) if self.udp_drops is not None else None
        return {
            "phase": self.name,
            "seconds": round(time.monotonic() - self.started, 3),
            "updates": self.updates,
            "longest_update_ms": round(self.longest_update * 1000, 1),
            "longest_update_cpu_ms": round(self.longest_update_cpu * 1000, 1),
            "longest_update_at": round(self.longest_update_at - self.started, 2),
            "slow_updates": self.slow_updates,
            "cpu_seconds": round(time.process_time() - self.cpu_start, 2),
            "gc_longest_ms": round(self.gc_longest * 1000, 1),
            "gc_total_ms": round(self.gc_total * 1000, 1),
            "gc_full": self.gc_full,
            "rss_start_mb": round(self.rss_start / 1024, 1),
            "rss_mb": round(rss / 1024, 1),
            "peak_rss_mb": round(peak / 1024, 1),
            "udp_drops": drops - self.udp_drops if drops is not None else None,
            "errors": self.errors,
            "error_count": self.error_count,
            "log_lines": self.log_lines,
            "log_longest": self.log_longest,
            "log_sample": self.log_sample,
            "connections": len(server.connections()),
            "handshakes": len(server._handshakes),
        }


class Soak:
    """The server's side of the soak: the current phase, the clients' order, their ends."""

    def __init__(self):
        self.phase = Phase("start", None)
        self.order_errors = []
        self.received = {}  # client number -> seq messages received
        self.good_disconnects = []


soak = Soak()


class TimeGc:
    """Times the cyclic garbage collector's pauses: they count in the update they fall in."""

    def __init__(self):
        self.started = 0.0

    def __call__(self, stage, info):
        if stage == "start":
            self.started = time.perf_counter()
            return
        took = time.perf_counter() - self.started
        phase = soak.phase
        phase.gc_total += took
        phase.gc_longest = max(phase.gc_longest, took)
        phase.gc_full += info["generation"] == 2


class CountLog(logging.Handler):
    """Counts the server's log lines per phase, instead of printing them."""

    def emit(self, record):
        phase = soak.phase
        text = record.getMessage()
        phase.log_lines += 1
        phase.log_longest = max(phase.log_longest, len(text))
        if len(phase.log_sample) < KEEP:
            phase.log_sample.append(text[:300])


class SoakHandler(pygnetic.Handler):
    """Echoes every message; checks the order of a good client's ``seq`` numbers."""

    client = None
    expected = 0

    def net_seq(self, message, **kwargs):
        if self.client is None:
            self.client = message.client
        wrong = message.client != self.client or message.number != self.expected
        if wrong and len(soak.order_errors) < KEEP_ORDER_ERRORS:
            soak.order_errors.append(
                f"connection of client {self.client}: got seq {message.client!r}/"
                f"{message.number!r}, expected {self.client}/{self.expected}"
            )
        self.expected = message.number + 1 if type(message.number) is int else self.expected
        soak.received[self.client] = soak.received.get(self.client, 0) + 1
        self.connection.send(message)

    def net_chat_msg(self, message, **kwargs):
        self.connection.send(message)  # the attacker's floods cost the server a send each

    def on_disconnect(self):
        if self.client is not None:
            connection = self.connection
            soak.good_disconnects.append(
                {
                    "client": self.client,
                    "phase": soak.phase.name,
                    "t": time.monotonic(),
                    "code": int(connection.close_code),
                    "reason": connection.close_reason,
                }
            )


def _read_commands(commands):
    for line in sys.stdin:
        commands.put(line.strip())
    commands.put("stop")  # the test is gone: do not outlive it


def main(conn_limit):
    log = logging.getLogger("pygnetic")
    log.setLevel(logging.INFO)
    log.addHandler(CountLog())
    log.propagate = False
    server = pygnetic.Server(
        "127.0.0.1",
        0,
        conn_limit=conn_limit,
        handler=SoakHandler,
        message_factory=soak_factory(),
        adapter=("enet", "socket"),
    )
    print(json.dumps({"port": server.address[1]}), flush=True)
    commands = SimpleQueue()
    threading.Thread(target=_read_commands, args=(commands,), daemon=True).start()
    gc.callbacks.append(TimeGc())
    clock, cpu = time.monotonic, time.process_time
    while True:
        phase = soak.phase
        started, cpu_started = clock(), cpu()
        try:
            server.update(5)
        except Exception as exc:  # the soak fails on it, but goes on to see the rest
            phase.error_count += 1
            if len(phase.errors) < KEEP:
                phase.errors.append("".join(traceback.format_exception_only(exc)).strip()[:500])
        took = clock() - started
        phase.updates += 1
        if took > phase.longest_update:
            phase.longest_update = took
            phase.longest_update_cpu = cpu() - cpu_started
            phase.longest_update_at = started
        phase.slow_updates += took > 0.1
        try:
            command = commands.get_nowait()
        except Empty:
            continue
        if command.startswith("phase "):
            soak.phase = Phase(command[6:], server.address[1])
        elif command == "report":
            print(json.dumps(phase.report(server)), flush=True)
        elif command.startswith("stall "):
            time.sleep(float(command[6:]))
        elif command == "stop":
            break
    server.close(linger_ms=200)
    last = soak.phase.report(server)
    last["order_errors"] = soak.order_errors
    last["received"] = soak.received
    last["good_disconnects"] = soak.good_disconnects
    print(json.dumps(last), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
