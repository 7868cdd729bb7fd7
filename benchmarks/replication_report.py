"""Figures of ``python -m benchmarks.replication`` from what its peers reported, and tables."""

from __future__ import annotations

import bisect
import math
import statistics

import msgpack

from .common import IPV4_HEADER, UDP_HEADER, percentile
from .harness import RunFailed
from .replication_world import Config, World

DATAGRAM_HEADERS = IPV4_HEADER + UDP_HEADER

BYTES_METHOD = (
    "Bytes a client receives are counted in the client processes, at their sockets: the "
    "payload of every UDP datagram a client's socket received, all of each library's protocol "
    "in it (headers, acknowledgements, pings), none of IP and UDP's 28 bytes. PyGaSe: its "
    "curio sockets' recv(), wrapped to count; the ENet rows: each client host's "
    "totalReceivedData, which ENet adds to for every datagram it receives. The same count, "
    "from the same place, for every row; /proc/<pid>/io was no use (its rchar counts read(), "
    "not recv() or recvfrom()). Checked against the kernel: the loopback interface's byte "
    "counter over each row's run (IP packets: payload + 28 bytes) against what the clients "
    "counted, received and sent, + 28 bytes a datagram. In a network namespace of the run's "
    "own the two agree within a few percent while the clients keep up (when they lag, what "
    "waits in their sockets' buffers at the start or the end moves the two apart, either "
    "way); elsewhere other programs' loopback traffic adds to the kernel's."
)
CPU_METHOD = (
    "Server CPU: time.process_time() of the server process over the run (user and system "
    "time of all its threads: the game loop, the networking, and the kernel's work in its "
    "send calls, which on loopback includes handing each datagram to the client's socket), "
    "÷ its ticks; 'server CPU' is that as a share of one CPU, 'clients' CPU' the same summed "
    "over the client processes, 'machine busy' the share of all the CPUs that anything used."
)
LATENCY_METHOD = (
    "Latency: each tick the server writes tick_time = time.monotonic() into the state; a "
    "client notes when it first has each time order (its loop looks at its state every "
    "millisecond, the floor's as soon as a datagram arrives). A tick is at a client when that "
    "client has its time order or a later one (each of them carries every earlier change). "
    "Per tick the slowest client; p50 and p99 over the run's ticks. A tick some client never "
    "had before the end of the run (2 s after the last tick, 1 s with --quick) is missed: later "
    "than every other, and a percentile that falls on one shows as '> end'."
)


def changes_per_tick(config: Config, ticks: int) -> float:
    """Mean ``len(msgpack.packb({id: [x, y, vx, vy], ...}))`` of a tick's changes."""
    world = World(config)
    return statistics.mean(len(msgpack.packb(world.step())) for _ in range(max(1, ticks)))


def check_time_orders(ticks: list, arrivals: list) -> None:
    """Every time order a client saw carried the tick_time the server wrote at that time order."""
    written = dict(ticks)
    for client in arrivals:
        for time_order, tick_time, _ in client:
            expected = written.get(time_order)
            if expected is None or tick_time is None:
                continue
            if abs(tick_time - expected) > 1e-6 * abs(expected):  # PyGaSe sends float32
                raise RunFailed(
                    f"time order {time_order} reached a client with tick_time {tick_time}, "
                    f"but the server wrote {expected} at it: the time orders are not the ticks"
                )


def tick_latencies(ticks: list, arrivals: list) -> tuple[list[float], int]:
    """Per tick, seconds until the last client had it; and how many ticks some client never had."""
    prepared = []
    for client in arrivals:
        ordered = sorted(client)
        orders = [time_order for time_order, _, _ in ordered]
        earliest = [when for _, _, when in ordered]
        for k in range(len(earliest) - 2, -1, -1):  # when it had this time order or a later one
            earliest[k] = min(earliest[k], earliest[k + 1])
        prepared.append((orders, earliest))
    latencies, missed = [], 0
    for time_order, tick_time in ticks:
        worst = 0.0
        for orders, earliest in prepared:
            k = bisect.bisect_left(orders, time_order)
            if k == len(orders):
                worst = None
                break
            worst = max(worst, earliest[k] - tick_time)
        if worst is None:
            missed += 1
        else:
            latencies.append(worst)
    return latencies, missed


def tick_percentile(latencies: list[float], missed: int, fraction: float) -> float | None:
    """The ``fraction`` quantile in ms of the ticks' latencies, the missed ones the latest.

    None when it falls on a missed tick (or there is no tick).
    """
    every = latencies + [math.inf] * missed
    if not every:
        return None
    value = percentile(every, fraction)
    return None if math.isinf(value) else 1000 * value


def figures(
    served: dict, received: list[dict], clients: int, kernel: int | None, busy: float | None
) -> dict:
    """The row's figures from the server's and the client processes' reports.

    ``kernel`` is what the loopback interface carried meanwhile (bytes), ``busy``
    the share of the machine's CPU time that something used (both None if unknown).
    """
    ticks = served["ticks"]
    if not ticks:
        raise RunFailed("the server made no tick during the run")
    arrivals = [client for process in received for client in process["arrivals"]]
    check_time_orders(ticks, arrivals)
    latencies, missed = tick_latencies(ticks, arrivals)

    def per_client_second(key: str) -> float:
        return sum(p["counters"][key] / p["seconds"] for p in received) / clients

    counted = 0
    for process in received:
        c = process["counters"]
        datagrams = c["received_datagrams"] + c["sent_datagrams"]
        counted += c["received"] + c["sent"] + DATAGRAM_HEADERS * datagrams
    clients_cpu = sum(p["cpu"] / p["seconds"] for p in received)
    result = {
        "clients": clients,
        "seconds": served["seconds"],
        "ticks": len(ticks),
        "ticks_per_second": len(ticks) / served["seconds"],
        "server_cpu_seconds": served["cpu"],
        "server_cpu_per_tick_ms": 1000 * served["cpu"] / len(ticks),
        "server_cpu_share": served["cpu"] / served["seconds"],
        "clients_cpu_share": clients_cpu,
        "machine_busy": busy,
        "bytes_per_client_second": per_client_second("received"),
        "datagrams_per_client_second": per_client_second("received_datagrams"),
        # A missed tick is later than every other: the percentiles cover all of them.
        "latency_p50_ms": tick_percentile(latencies, missed, 0.5),
        "latency_p99_ms": tick_percentile(latencies, missed, 0.99),
        "missed_ticks": missed,
        "kernel_loopback_bytes": kernel,
        "counted_bytes_both_ways": counted,
    }
    if all("message_bytes" in p["counters"] for p in received):
        result["message_bytes_per_client_second"] = per_client_second("message_bytes")
    headers = DATAGRAM_HEADERS * result["datagrams_per_client_second"]
    result["wire_bytes_per_client_second"] = result["bytes_per_client_second"] + headers
    return result


def ratio_to_changes(row: dict, changes: float) -> float:
    """A row's bytes a client a tick over the changes a tick (its own tick rate)."""
    return row["bytes_per_client_second"] / (changes * row["ticks_per_second"])


#: A run during which the machine's CPUs were busier than this measured a starved library.
SATURATED = 0.9

HEADER = [
    "implementation", "clients", "ticks/s", "server CPU/tick", "server CPU", "clients' CPU",
    "machine busy", "received/client/s", "× changes", "datagrams/client/s", "change→all p50",
    "p99", "missed",
]  # fmt: skip


#: A row whose median change reaches every client later than this (three ticks
#: at 30 Hz) keeps no game in step: it is run again with fewer clients.
LATE_MS = 100.0


def saturated(row: dict) -> bool:
    """The machine's CPUs were busy through the row's run (with anything)."""
    return row["machine_busy"] is not None and row["machine_busy"] >= SATURATED


def behind(row: dict) -> bool:
    """The row's median change took longer than :data:`LATE_MS` to reach every client."""
    return row["latency_p50_ms"] is None or row["latency_p50_ms"] > LATE_MS


def cells(name: str, row: dict, changes: float) -> list[str]:
    def ms(value):
        return "> end" if value is None else f"{value:.1f} ms"

    busy = row["machine_busy"]
    return [
        name,
        str(row["clients"]),
        f"{row['ticks_per_second']:.1f}",
        f"{row['server_cpu_per_tick_ms']:.2f} ms",
        f"{100 * row['server_cpu_share']:.0f}%",
        f"{100 * row['clients_cpu_share']:.0f}%",
        "–" if busy is None else f"{100 * busy:.0f}%" + ("*" if saturated(row) else ""),
        f"{row['bytes_per_client_second'] / 1000:.1f} kB",
        f"{ratio_to_changes(row, changes):.2f}×",
        f"{row['datagrams_per_client_second']:.0f}",
        ms(row["latency_p50_ms"]),
        ms(row["latency_p99_ms"]),
        str(row["missed_ticks"]),
    ]


def plain_table(rows: dict[str, dict], changes: float) -> str:
    table = [HEADER] + [cells(name, row, changes) for name, row in rows.items()]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    lines = []
    for line in table:
        padded = [line[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(padded).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def rst_table(rows: dict[str, dict], changes: float) -> str:
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for line in [HEADER] + [cells(name, row, changes) for name, row in rows.items()]:
        lines.append(f"   * - {line[0]}")
        lines.extend(f"     - {cell}" for cell in line[1:])
    return "\n".join(lines)


def goals(rows: dict[str, dict], changes: float, skipped: dict[str, str]) -> list[str]:
    """The two goals of issue 14, as measured at each number of clients (or why not)."""
    by = {(name.split(" (")[0], row["clients"]): row for name, row in rows.items()}
    counts = sorted({clients for _, clients in by}, reverse=True)
    lines = []
    for clients in counts:
        mine = by.get(("pygnetic-gamestate", clients))
        if mine:
            lines.append(
                f"pygnetic-gamestate's bytes ÷ the changes, {clients} clients: "
                f"{ratio_to_changes(mine, changes):.2f}× (goal ≤ 1.5×)"
            )
    for clients in counts:
        mine, theirs = by.get(("pygnetic-gamestate", clients)), by.get(("pygase-0.3.1", clients))
        if mine and theirs:
            cpu = theirs["server_cpu_per_tick_ms"] / mine["server_cpu_per_tick_ms"]
            lines.append(
                f"PyGaSe's server CPU per tick ÷ pygnetic's, {clients} clients: {cpu:.1f}× "
                "(goal ≥ 10×)"
            )
    for name in ("pygnetic-gamestate", "pygase-0.3.1"):
        if name in skipped:
            lines.append(f"{name} not measured: {skipped[name]}")
    return lines


def kernel_check(rows: dict[str, dict]) -> list[str]:
    lines = []
    for name, row in rows.items():
        kernel = row["kernel_loopback_bytes"]
        if kernel is None:
            lines.append(f"{name}: no loopback counter to check against")
        else:
            lines.append(
                f"{name}: loopback {kernel / 1e6:.2f} MB, counted "
                f"{row['counted_bytes_both_ways'] / 1e6:.2f} MB "
                f"(kernel ÷ counted {kernel / row['counted_bytes_both_ways']:.3f})"
            )
        if "message_bytes_per_client_second" in row:
            messages = row["message_bytes_per_client_second"]
            lines.append(
                f"{name}: its connections' data_received {messages:.0f} B/client/s, its ENet "
                f"hosts' {row['bytes_per_client_second']:.0f} (the difference: ENet's headers "
                "and acknowledgements)"
            )
    return lines
