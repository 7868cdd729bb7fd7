"""Hostile peers for issue 11: one class per attack, each run one ``step()`` at a time.

Every attack drives real sockets or a real pyenet host against a pygnetic
server on 127.0.0.1:``port``, from :data:`ATTACKER_HOST` (127.0.0.2: Linux
routes all of 127/8 to the loopback interface), so that limits per address can
tell the attacker from good clients on 127.0.0.1. ``step()`` does a bounded
amount of work and never waits long, so one process can interleave an attack
with a server's ``update()``::

    with TcpEchoFlood(server.address[1], factory, pump=server.update) as attack:
        run(attack, seconds=3, between=lambda: server.update(0))
    print(attack.stats)

``pump`` is for a server in this same process: the TCP handshake of a new
attacking connection waits for the server's answer, and ``pump()`` lets the
server give it. A server in another process needs neither ``pump`` nor
``between``.

``done`` turns true when an attack has finished by itself (a one-shot attack
got its answer, a bounded stream was sent); a ``sustained`` attack runs until
it is closed. ``stats`` counts what happened, for a report; each class says
what its counters mean. :class:`Newcomer` is the opposite of an attack: a
well-behaved client from 127.0.0.1 that checks the server still lets people in.
"""

import errno
import select
import selectors
import socket
import struct
import time

import msgpack
from raw_peers import RawEnetPeer, RawTcpPeer, enet

import pygnetic
from pygnetic.adapters.network.enet import CONNECT_DATA
from pygnetic.handshake import Answer, encode_hello
from pygnetic.message import MessageFactory
from pygnetic.protocol import CLOSE

#: Where attacks come from.
ATTACKER_HOST = "127.0.0.2"
#: Where the server listens and the good clients come from.
SERVER_HOST = "127.0.0.1"
#: A one-shot attack gives up waiting for the server after this many seconds.
ONE_SHOT_WAIT = 5.0
#: Bytes kept of the start and of the end of what a server sent, to find its CLOSE message in.
KEEP_REPLY = 64 * 1024
KEEP_TAIL = 4096
#: How a CLOSE control message ``[-3, code, reason]`` starts in msgpack.
_CLOSE_START = b"\x93" + msgpack.packb(CLOSE)


def run(attack, seconds, between=None):
    """Step ``attack`` until it is done or ``seconds`` pass, calling ``between()`` after each step.

    Returns the attack's ``stats``.
    """
    deadline = time.monotonic() + seconds
    while not attack.done and time.monotonic() < deadline:
        attack.step()
        if between is not None:
            between()
    return attack.stats


def first_message(factory, name=None):
    """The message class attacks use: ``name``, or the first one registered."""
    return factory.get_by_name(name or factory.names()[0])


def valid_message(factory, name=None, text="x"):
    """Bytes of a valid message of ``factory`` whose fields are all ``text``."""
    cls = first_message(factory, name)
    return factory.pack(cls(*[text] * len(cls._fields)))


def _filler(count):
    """``count`` packed ``'x'`` strings: the fields an attack does not aim at."""
    return msgpack.packb("x") * count


def _with_first_field(cls, packed):
    """A message of ``cls`` whose first field is ``packed`` (msgpack bytes), the rest filler."""
    return (
        _array_header(cls._arity) + msgpack.packb(cls._type_id) + packed
        + _filler(len(cls._fields) - 1)
    )  # fmt: skip


def _array_header(length):
    """The msgpack header of an array of ``length`` items."""
    if length < 16:
        return bytes([0x90 | length])
    if length < 1 << 16:
        return b"\xdc" + length.to_bytes(2, "big")
    return b"\xdd" + length.to_bytes(4, "big")


def nested(depth):
    """Msgpack bytes of ``depth`` arrays, each the only item of the one around it: [[[...]]]."""
    return b"\x91" * (depth - 1) + b"\x90"


class Attack:
    """What every attack has: where to attack from, a step at a time, and counters.

    Args:
        port: The server's port on 127.0.0.1 (TCP or UDP, as the attack needs).
        factory: The server's messages, for a valid hello and valid messages.
        source: The address to attack from.
        pump: Called while a TCP handshake waits for the server's answer
            (``server.update`` when the server runs in this process).
    """

    name = "attack"
    #: True: runs until closed; False: ``done`` once it has finished its job.
    sustained = False

    def __init__(self, port, factory=None, *, source=ATTACKER_HOST, pump=None):
        self.port = port
        self.factory = factory
        self.source = source
        self.pump = pump
        self.done = False
        self.stats = {}

    def count(self, key, amount=1):
        """Add ``amount`` to the counter ``key``."""
        self.stats[key] = self.stats.get(key, 0) + amount

    def step(self):
        """Do a little of the attack; return quickly."""
        raise NotImplementedError

    def close(self):
        """Close every socket the attack opened."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class NoAttack(Attack):
    """No attack at all: a baseline to compare the attacks' numbers with."""

    name = "no-attack"
    sustained = True

    def step(self):
        """Nothing to do."""


# -- connections an attack uses ---------------------------------------------------


class TcpLink:
    """A non-blocking TCP connection from ``source`` that may have said hello with ``factory``.

    Attributes:
        answer: The server's handshake answer (None without a hello); its
            code is -1 when the server closed or stayed silent instead of
            answering, or the connect failed.
        received: Bytes the server sent after the answer.
        head: The first :data:`KEEP_REPLY` of them.
        tail: The last :data:`KEEP_TAIL` of them.
        eof: Whether the server closed the connection (or reset it).
    """

    def __init__(self, port, factory, source, pump=None):
        self.eof = False
        try:
            raw = RawTcpPeer(port, factory, pump=pump, source=source)
        except OSError as exc:  # refused, reset, closed or silent before the answer
            self.sock = None
            self.eof = True
            self.answer = Answer(-1, f"no handshake answer: {exc}")
            self.head = self.tail = b""
            self.received = 0
            return
        self.sock = raw.sock
        self.sock.setblocking(False)
        self.answer = raw.answer
        self.head = raw.leftover[:KEEP_REPLY]
        self.tail = raw.leftover[-KEEP_TAIL:]
        self.received = len(raw.leftover)

    def send(self, data, wait=0.0):
        """Send what the kernel takes, waiting up to ``wait`` seconds for room; return how much.

        The wait keeps a flood from spinning while the server reads nothing.
        """
        if self.sock is None:
            return 0
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.eof = True
            return 0
        if sent or not wait:
            return sent
        select.select([], [self.sock], [], wait)
        return self.send(data)

    def read(self):
        """Read what arrived, keeping only the head and the tail; notice the server closing."""
        while not self.eof:
            try:
                chunk = self.sock.recv(262144)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.eof = True
                return
            if not chunk:
                self.eof = True
                return
            self.received += len(chunk)
            if len(self.head) < KEEP_REPLY:
                self.head += chunk[: KEEP_REPLY - len(self.head)]
            self.tail = (self.tail + chunk)[-KEEP_TAIL:]

    def close_message(self):
        """The server's last CLOSE control message ``(code, reason)``, or None.

        Looked for in the head and the tail of what was read: after a flood
        of echoes, the goodbye is at the end.
        """
        return _find_close(self.tail) or _find_close(self.head)

    def close(self):
        if self.sock is not None:
            self.sock.close()


def _find_close(data):
    """The last CLOSE control message ``(code, reason)`` in msgpack stream bytes, or None."""
    start = data.rfind(_CLOSE_START)
    while start >= 0:
        unpacker = msgpack.Unpacker()
        unpacker.feed(data[start:])
        try:
            value = unpacker.unpack()
        except (ValueError, msgpack.OutOfData):  # not a message boundary after all
            value = None
        if type(value) is list and len(value) == 3:
            return value[1], value[2]
        start = data.rfind(_CLOSE_START, 0, start)
    return None


class EnetLink:
    """A pyenet host on ``source`` connecting to the server and saying hello.

    ``step()`` services it without waiting. ``ready`` once the server accepted;
    ``ended`` once it refused, disconnected, or did not answer in time.
    """

    def __init__(self, port, factory, source, keep=True):
        self.raw = RawEnetPeer(port, factory, source=source, keep=keep)
        self.started = time.monotonic()

    def step(self):
        self.raw.service(0)

    @property
    def ready(self):
        answer = self.raw.answer
        return answer is not None and answer.code == 0 and not self.ended

    @property
    def ended(self):
        raw = self.raw
        if raw.disconnect_data is not None or (raw.answer is not None and raw.answer.code):
            return True
        return raw.answer is None and time.monotonic() - self.started > ONE_SHOT_WAIT

    def send(self, data, flags=None):
        """Queue a packet on channel 0 (reliable unless told); the next step sends it."""
        flags = enet.PACKET_FLAG_RELIABLE if flags is None else flags
        self.raw.peer.send(0, enet.Packet(data, flags))

    def close_message(self):
        """The server's CLOSE control message ``(code, reason)`` among kept packets, or None."""
        for data in self.raw.received:
            try:
                value = msgpack.unpackb(data)
            except ValueError:
                continue
            if type(value) is list and len(value) == 3 and value[0] == CLOSE:
                return value[1], value[2]
        return None

    def close(self):
        raw = self.raw
        if raw.host is None:
            return
        if raw.disconnect_data is None:
            raw.peer.disconnect_now(0)  # so the server frees the peer slot at once
        raw.host.flush()
        raw.peer = raw.host = None  # pyenet frees the host, and its socket, with the object


# -- one-shot attacks: send something, see how the server takes it ---------------


class OneShots(Attack):
    """Send each of ``payloads()`` over a new connection, then watch what the server does.

    A payload is done when the server closes the connection, when it has sent
    back at least as many bytes as it got (an echo), or after ``wait``
    seconds. ``stats[label]`` then says, per payload: ``closed`` (by the
    server), ``code`` and ``reason_length`` of the server's CLOSE message or
    ENet disconnect, ``reply_bytes`` (everything the server sent after its
    handshake answer), ``seconds`` from sending to the end, and ``refused``
    (the answer's code) when the handshake itself failed.

    Args:
        adapter: ``'socket'`` (TCP) or ``'enet'``.
        wait: Seconds to watch each payload at most.
    """

    def __init__(self, port, factory, *, adapter="socket", wait=ONE_SHOT_WAIT, **options):
        super().__init__(port, factory, **options)
        self.adapter = adapter
        self.wait = wait
        self._todo = list(self.payloads())
        self._link = None
        self._sent_at = 0.0

    def payloads(self):
        """(label, bytes) pairs to send, one connection each."""
        raise NotImplementedError

    def step(self):
        if self._link is None:
            if not self._todo:
                self.done = True
                return
            self._open()
            return
        label, data = self._todo[0]
        if self.adapter == "socket":
            self._step_tcp(label, data)
        else:
            self._step_enet(label, data)

    def _open(self):
        if self.adapter == "socket":
            self._link = TcpLink(self.port, self.factory, self.source, self.pump)
            if self._link.answer.code:
                self._finish(refused=self._link.answer.code)
                return
            self._pending = memoryview(self._todo[0][1])
            self._sent_at = time.monotonic()
        else:
            self._link = EnetLink(self.port, self.factory, self.source)
            self._sent_at = None

    def _step_tcp(self, label, data):
        link = self._link
        if self._pending:
            self._pending = self._pending[link.send(self._pending) :]
        link.read()
        if link.eof or link.received >= len(data) or self._late():
            self._finish(closed=link.eof)

    def _step_enet(self, label, data):
        link = self._link
        link.step()
        if self._sent_at is None:
            if link.ready:
                link.send(data)
                link.raw.host.flush()
                self._sent_at = time.monotonic()
            elif link.ended:
                answer = link.raw.answer
                self._finish(refused=answer.code if answer is not None else "no answer")
            return
        raw = link.raw
        if raw.disconnect_data is not None or raw.bytes_received >= len(data) or self._late():
            self._finish(closed=raw.disconnect_data is not None, code=raw.disconnect_data)

    def _late(self):
        return time.monotonic() - self._sent_at > self.wait

    def _finish(self, closed=False, code=None, refused=None):
        label, _ = self._todo.pop(0)
        link = self._link
        outcome = {"closed": closed}
        if refused is not None:
            outcome["refused"] = refused
        else:
            message = link.close_message()
            if message is not None:
                code = message[0]
                reason = message[1]
                outcome["reason_length"] = len(reason) if isinstance(reason, str) else None
            outcome["code"] = code
            received = link.received if isinstance(link, TcpLink) else link.raw.bytes_received
            outcome["reply_bytes"] = received
            outcome["seconds"] = round(time.monotonic() - self._sent_at, 3)
        self.stats[label] = outcome
        link.close()
        self._link = None

    def close(self):
        if self._link is not None:
            self._link.close()
            self._link = None


class Nesting(OneShots):
    """Attack 1: arrays nested ``depth`` deep as a type id, as a field, as a CLOSE reason.

    Labels: ``type_id`` (``[[[...]]], 'x', ...]``), ``field`` (a valid message
    whose first field is the nest: an echoing server sends it back),
    ``close`` (pygnetic's CLOSE control message ``[-3, 0, [[[...]]]]``).
    """

    name = "nesting"

    def __init__(self, port, factory, *, depth=1000, message=None, **options):
        self.depth = depth
        self.message = message
        super().__init__(port, factory, **options)

    def payloads(self):
        cls = first_message(self.factory, self.message)
        pack = msgpack.packb
        fields = _filler(len(cls._fields) - 1)
        nest = nested(self.depth)
        yield "type_id", _array_header(cls._arity) + nest + pack("x") + fields
        yield "field", _with_first_field(cls, nest)
        yield "close", b"\x93" + pack(CLOSE) + pack(0) + nest


class HugeValidMessage(OneShots):
    """Attack 3d: one valid message whose first field is ``elements`` empty arrays (4 MB).

    Under the default 4 MiB ``max_message_size``, so the server must decode it
    (about 72 bytes of Python objects per byte received) and, echoing, send it
    back: 4 MB over ENet takes seconds, so each waits up to ``wait`` = 15 s.
    Labels ``huge-1`` .. ``huge-<count>``.
    """

    name = "huge-valid"

    def __init__(
        self, port, factory, *, elements=4_000_000, count=1, message=None, wait=15.0, **options
    ):
        self.elements = elements
        self.repeat = count
        self.message = message
        super().__init__(port, factory, wait=wait, **options)

    def payloads(self):
        cls = first_message(self.factory, self.message)
        bomb = _array_header(self.elements) + b"\x90" * self.elements
        data = _with_first_field(cls, bomb)
        for number in range(1, self.repeat + 1):
            yield f"huge-{number}", data


class InvalidMegabyte(OneShots):
    """Attack 5a: 1 MB invalid messages; the CLOSE reason sent back must stay short.

    Labels: ``type_id`` (a 1 MB string as the type id), ``fields`` (a 1 MB
    field too many), ``not_array`` (a 1 MB string alone), ``undecodable``
    (1 MB of the byte msgpack never uses, 0xc1).
    """

    name = "invalid-1mb"

    def __init__(self, port, factory, *, size=1_000_000, message=None, **options):
        self.size = size
        self.message = message
        super().__init__(port, factory, **options)

    def payloads(self):
        cls = first_message(self.factory, self.message)
        pack = msgpack.packb
        big = pack("x" * self.size)
        fields = _filler(len(cls._fields))
        yield "type_id", _array_header(cls._arity) + big + fields
        yield "fields", _array_header(cls._arity + 1) + pack(cls._type_id) + fields + big
        yield "not_array", big
        yield "undecodable", b"\xc1" * self.size


# -- streams and floods ------------------------------------------------------------


class TcpMemoryBomb(Attack):
    """Attack 2: one msgpack array that never completes, streamed until ``total`` bytes.

    ``b"\\xdd"`` and a 4-byte length, then ``b"\\x90"`` (an empty array)
    again and again: each byte becomes a Python list on the server while the
    outer array waits for its end. ``length`` defaults to the largest array
    header msgpack's ``Unpacker`` accepts on a pygnetic stream today (its
    ``max_buffer_size``: ``max_message_size`` plus one 64 KiB slice), so the
    header is not refused at once. ``done`` once ``total`` bytes are sent or
    the server closed. Counters: ``streamed`` (bytes the kernel took),
    ``closed_by_server``, ``close_code``, and ``seconds``.
    """

    name = "memory-bomb"

    def __init__(self, port, factory, *, total=32 * 1024 * 1024, length=None, **options):
        super().__init__(port, factory, **options)
        limit = factory.max_message_size
        self.length = length if length is not None else limit + min(65536, limit)
        self.total = total
        self._chunk = b"\x90" * 65536
        self._link = None
        self._started = 0.0

    def step(self):
        link = self._link
        if link is None:
            link = self._link = TcpLink(self.port, self.factory, self.source, self.pump)
            self._started = time.monotonic()
            if link.answer.code:
                self.stats["refused"] = link.answer.code
                self.done = True
                return
            self.count("streamed", link.send(b"\xdd" + self.length.to_bytes(4, "big")))
        left = self.total - self.stats["streamed"]
        if left > 0:
            self.count("streamed", link.send(self._chunk[:left], wait=0.001))
        link.read()
        if link.eof or left <= 0:
            self.stats["closed_by_server"] = link.eof
            message = link.close_message()
            self.stats["close_code"] = message[0] if message else None
            self.stats["seconds"] = round(time.monotonic() - self._started, 3)
            self.done = True

    def close(self):
        if self._link is not None:
            self._link.close()


class _Reconnecting(Attack):
    """An attack over one connection at a time that opens a new one when the server closes it.

    Counters: ``connections`` (accepted), ``refused`` (handshake answers
    other than 0), ``closed_by_server``, and ``close_codes`` (a list).
    """

    sustained = True
    #: Seconds to wait before reconnecting after a refusal or a close.
    retry_delay = 0.5

    def __init__(self, port, factory, **options):
        super().__init__(port, factory, **options)
        self._link = None
        self._retry_at = 0.0

    def _lost(self, code=None):
        self.count("closed_by_server")
        self.stats.setdefault("close_codes", []).append(code)
        self._drop()

    def _drop(self):
        self._link.close()
        self._link = None
        self._retry_at = time.monotonic() + self.retry_delay

    def _may_connect(self):
        return self._link is None and time.monotonic() >= self._retry_at

    def close(self):
        if self._link is not None:
            self._link.close()
            self._link = None


class EnetFlood(_Reconnecting):
    """Attack 3a/3b: valid messages over ENet as fast as possible, unsequenced or reliable.

    Each step queues ``batch`` packets and services the host, which
    acknowledges and counts the echoes. Reliable packets wait in the
    attacker's own ENet host while ENet's window is full, so at most
    ``max_ahead`` more are sent than echoes came back. Counters besides
    :class:`_Reconnecting`'s: ``sent`` (packets), ``echoed`` (packets back),
    ``handshake_timeouts``.
    """

    def __init__(self, port, factory, *, reliable=False, batch=100, max_ahead=20000, **options):
        super().__init__(port, factory, **options)
        self.name = "enet-reliable-flood" if reliable else "enet-unsequenced-flood"
        self.flags = enet.PACKET_FLAG_RELIABLE if reliable else enet.PACKET_FLAG_UNSEQUENCED
        self.reliable = reliable
        self.batch = batch
        self.max_ahead = max_ahead
        self._data = valid_message(factory, text="flood")
        self._echoed_before = 0
        self._accepted = False

    def step(self):
        if self._may_connect():
            self._link = EnetLink(self.port, self.factory, self.source, keep=False)
            self._echoed_before = self.stats.get("echoed", 0)
            self._accepted = False
        link = self._link
        if link is None:
            return
        link.step()
        raw = link.raw
        self.stats["echoed"] = self._echoed_before + raw.packets
        if link.ended:
            if raw.answer is None:
                self.count("handshake_timeouts")
                self._drop()
            elif raw.answer.code:
                self.count("refused")
                self._drop()
            else:
                self._lost(raw.disconnect_data)
            return
        if not link.ready:
            return
        if not self._accepted:
            self._accepted = True
            self.count("connections")
        if self.reliable and self.stats.get("sent", 0) - self.stats["echoed"] > self.max_ahead:
            return
        packet, send, data, flags = enet.Packet, raw.peer.send, self._data, self.flags
        for _ in range(self.batch):
            send(0, packet(data, flags))
        self.count("sent", self.batch)
        raw.host.flush()


class TcpEchoFlood(_Reconnecting):
    """Attack 3c: valid messages over TCP as fast as the kernel takes them; the server echoes each.

    With ``read`` (the default) the echoes are read and dropped, so the flood
    lasts; without it the server's send buffer towards the attacker fills,
    and its ``max_send_buffer`` has to end the connection. Counters besides
    :class:`_Reconnecting`'s: ``sent`` (whole messages the kernel took),
    ``echoed_bytes``.
    """

    name = "tcp-echo-flood"

    def __init__(self, port, factory, *, batch=1000, read=True, **options):
        super().__init__(port, factory, **options)
        message = valid_message(factory, text="flood")
        self.read = read
        self._size = len(message)
        self._chunk = memoryview(message * batch)
        self._offset = 0
        self._bytes = 0
        self._echoed_before = 0

    def step(self):
        if self._may_connect():
            self._link = TcpLink(self.port, self.factory, self.source, self.pump)
            self._echoed_before = self.stats.get("echoed_bytes", 0)
            if self._link.answer.code:
                self.count("refused")
                self._drop()
                return
            self.count("connections")
        link = self._link
        if link is None:
            return
        chunk = self._chunk
        for _ in range(4):  # a few writes, then read the echoes
            sent = link.send(chunk[self._offset :], wait=0.001)
            if not sent:
                break
            self._bytes += sent
            self._offset = (self._offset + sent) % len(chunk)
        self.stats["sent"] = self._bytes // self._size
        if self.read:
            link.read()
            self.stats["echoed_bytes"] = self._echoed_before + link.received
        if link.eof:
            message = link.close_message()
            self._lost(message[0] if message else None)


class IdleHandshakes(Attack):
    """Attack 4a: ``count`` TCP connections that start a hello and never finish it.

    Each sends ``prefix`` (the first bytes of a handshake frame, so the
    server sees a pygnetic peer whose hello is on its way) and then nothing;
    one the server closes is opened again at once. Counters: ``opened``,
    ``closed_by_server``, ``failed`` (connects that did not complete within a
    second), ``open`` (now) and ``open_max``.
    """

    name = "idle-handshakes"
    sustained = True

    def __init__(self, port, factory=None, *, count=12, prefix=b"PGN\x02", **options):
        super().__init__(port, factory, **options)
        self.number = count
        self.prefix = prefix
        self._selector = selectors.DefaultSelector()  # readable: the server closed it

    def step(self):
        for key, _ in self._selector.select(0):
            if _closed_by_peer(key.fileobj):
                self._selector.unregister(key.fileobj)
                key.fileobj.close()
                self.count("closed_by_server")
        open_now = len(self._selector.get_map())
        if open_now < self.number:  # one a step: a step stays short
            sock = _tcp_socket(self.source)
            sock.settimeout(1.0)
            try:
                sock.connect((SERVER_HOST, self.port))
                sock.sendall(self.prefix)
            except OSError:
                sock.close()
                self.count("failed")
            else:
                sock.setblocking(False)
                self._selector.register(sock, selectors.EVENT_READ)
                self.count("opened")
                open_now += 1
        self.stats["open"] = open_now
        self.stats["open_max"] = max(self.stats.get("open_max", 0), open_now)

    def close(self):
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()
        self._selector.close()


def _tcp_socket(source):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    return sock


def _closed_by_peer(sock):
    """Read and drop what a non-blocking socket has; True once the peer closed or reset it."""
    while True:
        try:
            chunk = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
        if not chunk:
            return True


#: ENet's protocol header and CONNECT command (enet/protocol.h), big-endian:
#: header peerID, sentTime; command, channelID, reliableSequenceNumber;
#: outgoingPeerID, incomingSessionID, outgoingSessionID, mtu, windowSize,
#: channelCount, incoming and outgoing bandwidth, the three packet throttle
#: settings, connectID, data. 52 bytes, as pyenet 1.3.17 sends them.
ENET_CONNECT = struct.Struct("!HHBBHHBBIIIIIIIIII")


def forged_connect(connect_id, sent_time=0, channels=8, data=CONNECT_DATA):
    """A 52-byte ENet CONNECT datagram, shaped like the one pyenet sends for ``host.connect``."""
    return ENET_CONNECT.pack(
        0x8FFF,  # ENET_PROTOCOL_MAXIMUM_PEER_ID (no peer yet) | HEADER_FLAG_SENT_TIME
        sent_time & 0xFFFF,
        0x82,  # ENET_PROTOCOL_COMMAND_CONNECT | COMMAND_FLAG_ACKNOWLEDGE
        0xFF,  # channelID: none
        1,  # reliableSequenceNumber: the peer's first reliable command
        0,  # outgoingPeerID
        0xFF,  # incomingSessionID
        0xFF,  # outgoingSessionID
        1400,  # mtu (ENET_HOST_DEFAULT_MTU)
        65536,  # windowSize
        channels,
        0,  # incomingBandwidth: unlimited
        0,  # outgoingBandwidth: unlimited
        5000,  # packetThrottleInterval (ms)
        2,  # packetThrottleAcceleration
        2,  # packetThrottleDeceleration
        connect_id,
        data,  # pygnetic's connect data: b"PGN" and the protocol version
    )


class ForgedEnetConnects(Attack):
    """Attack 4b: ``count`` forged ENet CONNECT datagrams, repeated, never acknowledged.

    Each comes from its own UDP port and is sent again every ``interval``
    seconds. The server's ENet takes a peer slot for each and answers with a
    VERIFY_CONNECT, which it resends until it gives up on the peer. With the
    same connectID per port (the default) ENet ignores a repeat while the
    first still holds its slot, and takes a slot again once that expired;
    with ``fresh`` every repeat has a new connectID, and takes a new slot.
    Counters: ``sent`` (datagrams), ``answers`` (datagrams back).
    """

    name = "forged-enet-connects"
    sustained = True

    def __init__(self, port, factory=None, *, count=12, interval=0.5, fresh=False, **options):
        super().__init__(port, factory, **options)
        self.interval = interval
        self.fresh = fresh
        self._socks = []  # [socket, its connectID]
        self._selector = selectors.DefaultSelector()  # readable: the server answered
        for number in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((self.source, 0))
            sock.setblocking(False)
            self._socks.append([sock, 0x5A000000 + number])
            self._selector.register(sock, selectors.EVENT_READ)
        self._next = 0.0

    def step(self):
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.interval
            stamp = int(now * 1000)
            for entry in self._socks:
                if self.fresh:
                    entry[1] = (entry[1] + len(self._socks)) & 0xFFFFFFFF
                entry[0].sendto(forged_connect(entry[1], stamp), (SERVER_HOST, self.port))
                self.count("sent")
        for key, _ in self._selector.select(0):
            while True:
                try:
                    key.fileobj.recv(2048)
                except OSError:  # nothing more, or the port is not there (ICMP)
                    break
                self.count("answers")

    def close(self):
        for sock, _ in self._socks:
            sock.close()
        self._socks = []
        self._selector.close()


class SlowDrip(Attack):
    """Attack 4c: ``count`` connections that say hello, then send 1 byte per ``interval``.

    The bytes are the start of a valid message whose last field is a string
    of ``length`` characters, so the server's decoder only ever waits for
    more. The attacker never sends a pong: a server that takes any byte as a
    sign of life keeps such a connection, and its slot, for ever. Counters:
    ``opened``, ``refused`` (handshake answers other than 0),
    ``closed_by_server``, ``dripped`` (bytes), ``open`` (now), ``open_max``.
    """

    name = "slow-drip"
    sustained = True

    def __init__(self, port, factory, *, count=12, interval=1.0, length=1_000_000, **options):
        super().__init__(port, factory, **options)
        self.number = count
        self.interval = interval
        cls = first_message(factory)
        pack = msgpack.packb
        fields = _filler(len(cls._fields) - 1)
        string = b"\xdb" + length.to_bytes(4, "big")
        self._prefix = _array_header(cls._arity) + pack(cls._type_id) + fields + string
        self._links = []  # [link, bytes dripped, time of the next byte]
        self._retry_at = 0.0

    def step(self):
        now = time.monotonic()
        for entry in list(self._links):
            link, dripped, due = entry
            link.read()  # pings pile up unanswered; reading only tells when the server closed
            if link.eof:
                self._links.remove(entry)
                link.close()
                self.count("closed_by_server")
            elif now >= due:
                byte = self._prefix[dripped : dripped + 1] or b"x"
                entry[1] += link.send(byte)
                entry[2] = now + self.interval
                self.count("dripped")
        if len(self._links) < self.number and now >= self._retry_at:  # one a step
            link = TcpLink(self.port, self.factory, self.source, self.pump)
            if link.answer.code:
                link.close()
                self.count("refused")
                self._retry_at = now + 0.5
            else:
                self._links.append([link, 0, now])
                self.count("opened")
        self.stats["open"] = len(self._links)
        self.stats["open_max"] = max(self.stats.get("open_max", 0), len(self._links))

    def close(self):
        for link, _, _ in self._links:
            link.close()
        self._links = []


def other_registry_hello(factory):
    """A hello from a client whose registry differs from ``factory``'s: one message more."""
    other = MessageFactory(factory.serializer.name)
    for name in factory.names():
        other.register(name, first_message(factory, name)._fields)
    other.register("not_on_the_server", ("x",))
    return encode_hello(other)


class HandshakeFlood(Attack):
    """Attack 5b: new TCP connections as fast as they open, each with a hello the server refuses.

    ``hello`` defaults to one from another registry, which the server reads,
    refuses with an answer, and may log; pass ``b"GET / HTTP/1.0\\r\\n\\r\\n"``
    for a peer that does not speak pygnetic at all. At most ``in_flight``
    connections are open at once; one the server has not closed after 3 s
    is reset. Counters: ``attempts`` (connects started), ``answered`` (the
    server sent something back), ``closed_by_server``, ``failed`` (connect
    errors), ``expired``, and ``per_second`` (attempts per second so far).
    """

    name = "handshake-flood"
    sustained = True
    #: Seconds a connection may wait for the server before it is reset.
    EXPIRE = 3.0

    def __init__(self, port, factory, *, hello=None, in_flight=256, batch=32, **options):
        super().__init__(port, factory, **options)
        self.hello = hello if hello is not None else other_registry_hello(factory)
        self.in_flight = in_flight
        self.batch = batch
        self._selector = selectors.DefaultSelector()
        self._open = {}  # socket -> [time opened, whether the hello is sent, whether answered]
        self._started = time.monotonic()

    def step(self):
        now = time.monotonic()
        for _ in range(min(self.batch, self.in_flight - len(self._open))):
            self._connect(now)
        for key, _ in self._selector.select(0):
            sock = key.fileobj
            state = self._open[sock]
            if not state[1]:
                self._say_hello(sock, state)
            elif _closed_by_peer_counting(sock, state):
                self.count("closed_by_server")
                self._forget(sock, reset=False)
        for sock, state in list(self._open.items()):
            if now - state[0] > self.EXPIRE:
                self.count("expired")
                self._forget(sock, reset=True)
        self.stats["per_second"] = round(self.stats.get("attempts", 0) / (now - self._started))

    def _connect(self, now):
        sock = _tcp_socket(self.source)
        sock.setblocking(False)
        error = sock.connect_ex((SERVER_HOST, self.port))
        if error not in (0, errno.EINPROGRESS):
            sock.close()
            self.count("failed")
            return
        self.count("attempts")
        self._open[sock] = [now, False, False]
        self._selector.register(sock, selectors.EVENT_WRITE)

    def _say_hello(self, sock, state):
        state[1] = True
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            self.count("failed")
            self._forget(sock, reset=False)
            return
        try:
            sock.send(self.hello)  # small: the kernel takes it whole
        except OSError:
            self.count("failed")
            self._forget(sock, reset=False)
            return
        self._selector.modify(sock, selectors.EVENT_READ)

    def _forget(self, sock, reset):
        state = self._open.pop(sock)
        if state[2]:
            self.count("answered")
        self._selector.unregister(sock)
        if reset:  # no TIME_WAIT left behind on the attacker's ports
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()

    def close(self):
        for sock in list(self._open):
            self._forget(sock, reset=True)
        self._selector.close()


def _closed_by_peer_counting(sock, state):
    """Like :func:`_closed_by_peer`, noting in ``state`` whether anything arrived."""
    while True:
        try:
            chunk = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
        if not chunk:
            return True
        state[2] = True


class Newcomer:
    """A well-behaved client from 127.0.0.1 during an attack: is it still let in, and served?

    It connects, sends one valid message and waits for the echo. ``result``
    is None while that is under way, then a dict: ``accepted`` (the echo came
    back), ``seconds`` (from connecting to the echo or to the end), and
    ``reason`` when it was refused, dropped, or still waiting after ``within``
    seconds.
    """

    def __init__(self, port, factory, adapter, within=5.0):
        from pygnetic.testing import Recorder

        self.within = within
        self.started = time.monotonic()
        self.client = pygnetic.Client(message_factory=factory, adapter=adapter)
        self.connection = self.client.connect(SERVER_HOST, port)
        self.recorder = Recorder()
        self.connection.add_handler(self.recorder)
        cls = first_message(factory)
        self.connection.send(cls, *["newcomer"] * len(cls._fields))
        self.result = None

    def step(self):
        if self.result is not None:
            return
        self.client.update(0)
        elapsed = round(time.monotonic() - self.started, 3)
        if self.recorder.received:
            self.result = {"accepted": True, "seconds": elapsed}
        elif self.recorder.disconnects:
            self.result = {"accepted": False, "seconds": elapsed}
            self.result["reason"] = self.connection.close_reason
        elif elapsed > self.within:
            self.result = {"accepted": False, "seconds": elapsed}
            self.result["reason"] = f"still {self.connection.state.value} after {self.within} s"

    def close(self):
        self.client.close(linger_ms=100)
