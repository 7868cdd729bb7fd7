"""Hand-made peers that speak just enough of the wire protocol to misbehave."""

import socket
import time

from pygnetic.handshake import MAGIC, FrameReader, encode_hello, parse_answer

try:
    import enet
except ImportError:
    enet = None


class RawTcpPeer:
    """A TCP client that can skip or complete the handshake, then send anything."""

    def __init__(self, port, factory=None, pump=None, source=None):
        """Connect; with a message ``factory``, also say hello and read the answer.

        ``pump`` is called while waiting, so a server in this same thread can answer.
        ``source`` is the local address to connect from (any 127/8 address on
        Linux), so that a server can tell this peer from clients on 127.0.0.1.
        """
        source_address = (source, 0) if source is not None else None
        self.sock = socket.create_connection(
            ("127.0.0.1", port), timeout=5, source_address=source_address
        )
        self.answer = None
        self.leftover = b""
        if factory is not None:
            try:
                self.sock.sendall(encode_hello(factory))
                self.answer = self._read_answer(pump)
            except OSError:
                self.sock.close()
                raise

    def _read_answer(self, pump):
        self.sock.settimeout(0.005)
        reader = FrameReader(stream=True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if pump is not None:
                pump()
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                raise ConnectionError("closed during the handshake")
            payload, self.leftover = reader.feed(chunk)
            if payload is not None:
                return parse_answer(payload)
        raise TimeoutError("no answer from the server")

    def send(self, data, pump=None):
        """Send ``data``; with ``pump``, call it while the kernel is full, until sent or reset.

        Returns the number of bytes the kernel took (all of them unless the
        server closed the connection meanwhile).
        """
        if pump is None:
            self.sock.sendall(data)
            return len(data)
        view, sent = memoryview(data), 0
        self.sock.setblocking(False)
        try:
            while sent < len(data):
                try:
                    sent += self.sock.send(view[sent : sent + 65536])
                except BlockingIOError:
                    pump()
                except (BrokenPipeError, ConnectionResetError):
                    break
        finally:
            self.sock.settimeout(5)
        return sent

    def closed_by_server(self, timeout=5.0):
        """Read until EOF; return everything the server sent before closing."""
        self.sock.settimeout(timeout)
        received = b""
        try:
            while chunk := self.sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        return received

    def close(self):
        self.sock.close()


class RawEnetPeer:
    """A bare pyenet host connected to a pygnetic server; says hello with ``factory``."""

    def __init__(self, port, factory=None, source=None, keep=True):
        """Start connecting from ``source`` (default: any address).

        With ``keep`` False, received packets are only counted (``packets``,
        ``bytes_received``), so that a long flood of answers costs no memory.
        """
        from pygnetic.adapters.network.enet import CONNECT_DATA

        bind = enet.Address(source.encode(), 0) if source is not None else None
        self.host = enet.Host(bind, 1, 8, 0, 0)
        self.peer = self.host.connect(enet.Address(b"127.0.0.1", port), 8, CONNECT_DATA)
        self.hello = encode_hello(factory) if factory is not None else None
        self.keep = keep
        self.received = []
        self.packets = 0
        self.bytes_received = 0
        self.answer = None
        self.disconnect_data = None

    def service(self, duration=0.05):
        """Handle ENet events for ``duration`` seconds; 0 handles what waits, without waiting."""
        deadline = time.monotonic() + duration
        while True:
            event = self.host.service(5 if duration else 0)
            while event.type != enet.EVENT_TYPE_NONE:
                if event.type == enet.EVENT_TYPE_CONNECT and self.hello is not None:
                    self.send(self.hello)
                elif event.type == enet.EVENT_TYPE_RECEIVE:
                    data = event.packet.data
                    if data.startswith(MAGIC) and self.answer is None:
                        self.answer = parse_answer(FrameReader(stream=False).feed(data)[0])
                    else:
                        self.packets += 1
                        self.bytes_received += len(data)
                        if self.keep:
                            self.received.append(data)
                elif event.type == enet.EVENT_TYPE_DISCONNECT:
                    self.disconnect_data = event.data
                event = self.host.service(0)
            if time.monotonic() >= deadline:
                return

    def send(self, data, channel=0):
        self.peer.send(channel, enet.Packet(data, enet.PACKET_FLAG_RELIABLE))
        self.host.flush()


def closed_by_server(sock):
    """Whether the server closed a non-blocking ``sock`` (reads the bytes it sent, if any)."""
    try:
        return sock.recv(65536) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


class RawWebSocketPeer:
    """A WebSocket client made of websockets' sans-I/O protocol and a plain socket.

    It runs in the test's own thread: every wait pumps the server.
    """

    def __init__(self, port, source="127.0.0.1", upgrade=True):
        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri

        self.sock = socket.create_connection(("127.0.0.1", port), source_address=(source, 0))
        self.sock.setblocking(False)
        self.protocol = ClientProtocol(
            parse_uri(f"ws://127.0.0.1:{port}/"), subprotocols=["pygnetic"], max_size=None
        )
        self.frames = []
        self.eof = False
        if upgrade:
            self.protocol.send_request(self.protocol.connect())
            self.flush()

    def flush(self, server=None):
        """Send what the protocol wrote; with ``server``, update it while the kernel is full."""
        for chunk in self.protocol.data_to_send():
            if not chunk:
                self.sock.shutdown(socket.SHUT_WR)
                continue
            view = memoryview(chunk)
            while view:
                try:
                    view = view[self.sock.send(view[:65536]) :]
                except BlockingIOError:
                    if server is None:
                        raise
                    server.update(1)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the server closed: what it said is still to be read

    def read(self):
        """Read what came; True once the server closed the connection."""
        while not self.eof:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                break
            except ConnectionResetError:
                data = b""
            if data:
                self.protocol.receive_data(data)
            else:
                self.eof = True
                self.protocol.receive_eof()
        for event in self.protocol.events_received():
            if getattr(event, "opcode", None) is not None:
                self.frames.append(event)
        if not self.eof:
            self.flush()
        return self.eof

    def binary_frames(self):
        return [frame for frame in self.frames if frame.opcode.name == "BINARY"]

    def handshake(self, server, factory):
        """Upgrade, then say pygnetic's hello; the server's answer."""
        from pygnetic.testing import pump

        assert pump(server, until=lambda: self.read() or self.protocol.state.name == "OPEN")
        assert self.protocol.state.name == "OPEN"
        self.protocol.send_binary(encode_hello(factory))
        self.flush()
        assert pump(server, until=lambda: self.read() or self.binary_frames())
        return parse_answer(FrameReader(stream=False).feed(self.binary_frames()[0].data)[0])

    def close(self):
        self.sock.close()
