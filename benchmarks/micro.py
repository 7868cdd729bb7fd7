"""In-process cost per message of pygnetic's core against the same work done by hand.

``python -m benchmarks.micro`` times, without any network, the send path
(``connection.net_chat_msg(...)`` down to the link's ``send``) and the receive
paths (one packet per message as from ENet; a byte stream as from TCP) of a
real :class:`~pygnetic.connection.Connection` whose link is a stub, against a
reused msgpack Packer, ``msgpack.unpackb`` and a streaming ``Unpacker`` with a
dispatch on the type id, and against the same work as pygnetic's done by
hand (:func:`same_work`: the checks, the namedtuple, the handler call). It
isolates what the core adds per message; the adapters' own costs are in the
end-to-end scenarios.

It also times the same send path under the network simulator
(:mod:`pygnetic.simulate`), against the same path without it: each message
is scheduled, then handed on to the stub link when the host's transport
releases what is due (once per batch of ``SEND_BATCH``, as one ``update()``
would), and an idle ``client.update(0)`` of a simulated client.

And it times the three paths on a connection with a resumable session (a
server's ``reconnect_grace``, :mod:`pygnetic._session`) against one without:
each reliable message is kept until acknowledged (here every 1,000
messages, as the peer's acknowledgements a few times a second would trim
it) and each one received is counted.
"""

from __future__ import annotations

import argparse
import gc
import time

import msgpack

import pygnetic
from pygnetic._session import Session
from pygnetic._simulated import SimulatedLink, SimulatedTransport
from pygnetic.connection import Connection
from pygnetic.message import MessageFactory
from pygnetic.simulate import Conditions, Simulator

from . import common
from .impls import SIMULATE_LEAST

N = 100_000


class StubLink:
    address = ("127.0.0.1", 1)
    channels = 2
    round_trip_time = None
    keepalive = False
    last_heard = 0

    def __init__(self, stream: bool) -> None:
        self.stream = stream
        self.sent = 0

    def send(self, data, channel, delivery) -> None:
        self.sent += 1

    def close(self, code, peer_closed=False) -> None:
        pass


class CountingStubLink(StubLink):
    """A stub link that counts reliable packets, as ENet's and the memory adapter's do."""

    flag_reliable = False

    def send_counted(self, data, channel, delivery) -> bool:
        self.sent += 1
        return True


class Counter(pygnetic.Handler):
    chats = 0

    def net_chat_msg(self, message, **kwargs):
        Counter.chats += 1


def _connection(stream: bool, link=None, session=None) -> Connection:
    factory = MessageFactory("msgpack")
    for name, fields, options in common.MESSAGES:
        factory.register(name, fields, **options)
    connection = Connection(None, link or StubLink(stream), factory, session=session)
    connection.add_handler(Counter())
    return connection


def _best(functions, repeats: int, n: int) -> list[float]:
    """Best of ``repeats`` interleaved timings of each function, in CPU ns per message.

    CPU time (``time.process_time``) rather than wall time, so that being
    descheduled on a shared machine does not count.
    """
    best = [float("inf")] * len(functions)
    for _ in range(repeats):
        for i, function in enumerate(functions):
            gc.collect()
            start = time.process_time()
            function()
            best[i] = min(best[i], time.process_time() - start)
    return [b / n * 1e9 for b in best]


def cases(n: int = N):
    player, msg = common.CHAT_ARGS
    chat = msgpack.packb((common.CHAT, player, msg))
    stream = chat * n

    packet_conn = _connection(False)
    stream_conn = _connection(True)
    send = packet_conn.net_chat_msg

    def pygnetic_send():
        for _ in range(n):
            send(player, msg)

    pack = msgpack.Packer().pack
    sink = StubLink(False).send

    def raw_send():
        for _ in range(n):
            sink(pack((common.CHAT, player, msg)), 0, None)

    receive_packet = packet_conn._receive_packet

    def pygnetic_packet():
        for _ in range(n):
            receive_packet(chat, 0)

    class Raw:
        chats = 0

    def raw_packet():
        unpackb = msgpack.unpackb
        for _ in range(n):
            message = unpackb(chat)
            if message[0] == common.CHAT:
                Raw.chats += 1

    receive_stream = stream_conn._receive_stream

    def pygnetic_stream():
        for start in range(0, len(stream), 65536):
            receive_stream(stream[start : start + 65536], 0)

    def raw_stream():
        unpacker = msgpack.Unpacker()
        for start in range(0, len(stream), 65536):
            unpacker.feed(stream[start : start + 65536])
            for message in unpacker:
                if message[0] == common.CHAT:
                    Raw.chats += 1

    same_send, same_packet, same_stream = same_work(n, chat, stream)
    return [
        ("send chat_msg", pygnetic_send, raw_send, same_send),
        ("receive packet", pygnetic_packet, raw_packet, same_packet),
        ("receive stream", pygnetic_stream, raw_stream, same_stream),
        *((*row, None) for row in idle_updates(n)),
    ]


def same_work(n: int, chat: bytes, stream: bytes):
    """The three paths doing pygnetic's per-message work by hand, as the hand-* rows do.

    Sending: a method packs ``(type_id, *fields)``, checks the size limit and
    queues the bytes. Receiving: decode, check the ``[type_id, *fields]``
    array, build the namedtuple and call the handler method with
    ``channel=`` (:func:`benchmarks.impls.hand.serve`).
    """
    from .impls import hand

    player, msg = common.CHAT_ARGS

    class Sender:
        def __init__(self) -> None:
            self.pack = msgpack.Packer().pack
            self.out = bytearray()
            self.dirty: set[Sender] = set()

        def net_chat_msg(self, player, msg) -> None:
            data = self.pack((common.CHAT, player, msg))
            if len(data) > hand.LIMIT:
                raise hand.too_large("chat_msg", len(data))
            self.out += data
            self.dirty.add(self)

    class Server:
        chats = 0

        def net_pong(self, peer, seq) -> None:
            pass

    sender = Sender()
    handler = hand.GameHandler(Server(), None)
    serve = hand.serve

    def send():
        net_chat_msg = sender.net_chat_msg
        for _ in range(n):
            net_chat_msg(player, msg)
        sender.out.clear()

    def packet():
        unpackb = msgpack.unpackb
        for _ in range(n):
            serve(handler, unpackb(chat), 0)

    def streamed():
        unpacker = msgpack.Unpacker(max_buffer_size=hand.LIMIT)
        for start in range(0, len(stream), 65536):
            unpacker.feed(stream[start : start + 65536])
            for raw in unpacker:
                serve(handler, raw, 0)

    return send, packet, streamed


def idle_updates(n: int):
    """``client.update(0)`` with nothing to do, against the by-hand pump, per transport.

    The client is connected to a server in this process (real sockets on
    127.0.0.1); the server is not pumped while timing, so nothing arrives.
    """
    from .impls import BY_NAME

    out = []
    for transport in ("enet", "tcp"):
        if BY_NAME[f"pygnetic-{transport}"].missing():
            continue
        out.append(idle_pair(f"idle update {transport}", n, f"pygnetic-{transport}",
                             f"raw-{transport}"))  # fmt: skip
    return out


def idle_pair(label: str, n: int, first: str, second: str):
    """A micro-benchmark row: ``n`` idle pumps of a client of ``first``, and of ``second``.

    Each client is connected to a server of its own in this process; the
    servers are not pumped while timing, so nothing arrives.
    """
    from .impls import make_client, make_server

    pumps = []
    for name in (first, second):
        server = make_server(name, 1)
        client = make_client(name, server.port, 1)

        def pump_both(ms, server=server, client=client):
            server.pump(ms)
            client.pump(ms)

        common.wait_until(lambda client=client: client.connected, pump_both, 10)
        pumps.append(client.pump)

    def loop(pump):
        def run():
            for _ in range(n):
                pump(0)

        return run

    return label, loop(pumps[0]), loop(pumps[1])


def simulated(n: int):
    """The send path and an idle update with the simulator on, against the same without.

    The simulated connection's link is a stub wrapped as a host wraps a real
    one. Its clock moves on by a second after each batch, so that the release
    hands on the whole batch: each message pays for being scheduled, held and
    handed on, not for waiting.
    """
    from .impls import BY_NAME

    player, msg = common.CHAT_ARGS
    batch = common.SEND_BATCH
    clock = [0.0]
    transport = SimulatedTransport(
        None, Simulator(Conditions.parse(SIMULATE_LEAST)), lambda: clock[0]
    )
    stub = StubLink(False)
    transport.attach(stub)
    simulated_send = _connection(False, SimulatedLink(transport, stub)).net_chat_msg
    plain_send = _connection(False).net_chat_msg
    release = transport.release

    def nothing(now: float) -> None:
        pass

    def loop(send, flush):
        def run():
            for start in range(0, n, batch):
                for _ in range(min(batch, n - start)):
                    send(player, msg)
                clock[0] += 1.0
                flush(clock[0])

        return run

    out = [("send chat_msg", loop(simulated_send, release), loop(plain_send, nothing))]
    for transport_name in ("enet", "tcp"):
        names = (f"pygnetic-{transport_name}-sim", f"pygnetic-{transport_name}")
        if any(BY_NAME[name].missing() for name in names):
            continue
        out.append(idle_pair(f"idle update {transport_name}", n, *names))
    return out


def sessions(n: int):
    """The send and receive paths with a resumable session, and without one."""
    player, msg = common.CHAT_ARGS
    chat = msgpack.packb((common.CHAT, player, msg))
    stream = chat * n
    send_session = Session(b"t" * 32, 10.0)
    send_on = _connection(False, CountingStubLink(False), send_session)
    send_off = _connection(False)
    packet_on = _connection(False, CountingStubLink(False), Session(b"t" * 32, 10.0))
    packet_off = _connection(False)

    def sending(connection, session):
        send = connection.net_chat_msg

        def loop():
            for start in range(0, n, 1000):
                for _ in range(min(1000, n - start)):
                    send(player, msg)
                if session is not None:  # the peer has it all: what was kept is dropped
                    session.acknowledged({0: session._sent[0]})

        return loop

    def receiving(connection, flag):
        receive = connection._receiver

        def loop():
            for _ in range(n):
                receive(chat, flag)

        return loop

    stream_on = _connection(True, session=Session(b"t" * 32, 10.0))
    stream_off = _connection(True)

    def streaming(connection):
        receive = connection._receiver

        def loop():
            for start in range(0, len(stream), 65536):
                receive(stream[start : start + 65536], 0)

        return loop

    return [
        ("send chat_msg", sending(send_on, send_session), sending(send_off, None)),
        ("receive packet", receiving(packet_on, 0x100), receiving(packet_off, 0)),
        ("receive stream", streaming(stream_on), streaming(stream_off)),
    ]


def events(n: int):
    """Receiving a stream as pygame events, against the handler path and the same by hand.

    pygnetic's connection posts one ``NETWORK`` event per message and the
    game's loop drains ``pygame.event.get()`` after each read, as a frame
    would; by hand, the same checks and namedtuple, then one event posted
    the cheapest way pygame has (a new dict). None without pygame.
    """
    import os

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    try:
        import pygame
    except ImportError:
        return None
    from pygnetic import event

    from .impls import hand

    pygame.init()
    pygnetic.init(events=True)
    network = event.NETWORK
    player, msg = common.CHAT_ARGS
    stream = msgpack.packb((common.CHAT, player, msg)) * n
    handled = _connection(True)
    posting = Connection(None, StubLink(True), handled.message_factory, events=True)
    chat_msg = posting.message_factory.get_by_name("chat_msg")
    get, post, new_event = pygame.event.get, pygame.event.post, pygame.event.Event
    received = event.NET_RECEIVED

    def drain() -> None:
        for e in get():
            if e.type == network and e.net_type == received and e.msg_type is chat_msg:
                Counter.chats += 1

    def feeding(connection, after):
        receive = connection._receive_stream

        def loop():
            for start in range(0, len(stream), 65536):
                receive(stream[start : start + 65536], 0)
                after()

        return loop

    def by_hand():
        unpacker = msgpack.Unpacker(max_buffer_size=hand.LIMIT)
        for start in range(0, len(stream), 65536):
            unpacker.feed(stream[start : start + 65536])
            for raw in unpacker:
                if type(raw) is list and len(raw) == 3 and type(raw[0]) is int and raw[0] == 0:
                    message = tuple.__new__(chat_msg, (raw[1], raw[2]))
                    post(new_event(network, {
                        "net_type": received, "connection": None, "message": message,
                        "msg_type": chat_msg, "channel": 0,
                    }))  # fmt: skip
            drain()

    def nothing() -> None:
        pass

    return feeding(posting, drain), feeding(handled, nothing), by_hand


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.micro", description=__doc__)
    parser.add_argument("-r", "--repeats", type=int, default=15, help="best of (default 15)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke mode: 2,000 messages, one repeat"
    )
    args = parser.parse_args(argv)
    n, repeats = (2_000, 1) if args.quick else (N, args.repeats)
    print(f"CPU ns per message, best of {repeats} × {n:,} (no network; stub link)\n")
    print("by hand: decode and compare the type id (send: pack); same work: by hand, the")
    print("checks, the namedtuple and the handler call pygnetic makes (send: the size limit)\n")
    print(
        f"{'path':<16} {'pygnetic':>9} {'by hand':>9} {'ratio':>7} {'added':>7}"
        f" {'same work':>10} {'ratio':>7}"
    )
    for name, mine, raw, same in cases(n):
        pyg, base, *floor = _best([mine, raw] + ([same] if same else []), repeats, n)
        line = f"{name:<16} {pyg:9.0f} {base:9.0f} {pyg / base:6.2f}× {pyg - base:7.0f}"
        if floor:
            line += f" {floor[0]:10.0f} {pyg / floor[0]:6.2f}×"
        print(line)
    print(f"\nThe same with the network simulator on (simulate={SIMULATE_LEAST!r}) and off\n")
    print(f"{'path':<16} {'on':>9} {'off':>9} {'ratio':>7} {'added':>7}")
    for name, on, off in simulated(n):
        sim, plain = _best([on, off], repeats, n)
        print(f"{name:<16} {sim:9.0f} {plain:9.0f} {sim / plain:6.2f}× {sim - plain:7.0f}")
    posted = events(n)
    if posted is not None:
        print("\nReceiving a stream as pygame events (drained after each read), and by hand\n")
        print(f"{'path':<16} {'events':>9} {'handler':>9} {'ratio':>7} {'by hand':>9}", end="")
        print(f" {'ratio':>7}")
        as_events, as_handler, by_hand = _best(list(posted), repeats, n)
        print(
            f"{'receive stream':<16} {as_events:9.0f} {as_handler:9.0f}"
            f" {as_events / as_handler:6.2f}× {by_hand:9.0f} {as_events / by_hand:6.2f}×"
        )
    print("\nThe same with a resumable session (reconnect_grace) and without\n")
    print(f"{'path':<16} {'session':>9} {'none':>9} {'ratio':>7} {'added':>7}")
    for name, on, off in sessions(n):
        kept, plain = _best([on, off], repeats, n)
        print(f"{name:<16} {kept:9.0f} {plain:9.0f} {kept / plain:6.2f}× {kept - plain:7.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
