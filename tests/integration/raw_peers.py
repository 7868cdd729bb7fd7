"""Hand-made peers that speak just enough of the wire protocol to misbehave."""

import socket
import time

from pygnetic.adapters.network.socket import ANSWER, HELLO, MAGIC
from pygnetic.protocol import PROTOCOL_VERSION

try:
    import enet
except ImportError:
    enet = None


class RawTcpPeer:
    """A TCP client that can skip or complete the handshake, then send anything."""

    def __init__(self, port, connect_data=None, pump=None):
        """Connect; with ``connect_data``, also say HELLO and read the answer.

        ``pump`` is called while waiting, so a server in this same thread can answer.
        """
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.answer = None
        if connect_data is not None:
            self.sock.sendall(HELLO.pack(MAGIC, PROTOCOL_VERSION, connect_data))
            self.answer = ANSWER.unpack(self._read_exactly(ANSWER.size, pump))

    def _read_exactly(self, size, pump):
        self.sock.settimeout(0.005)
        data = b""
        deadline = time.monotonic() + 5
        while len(data) < size and time.monotonic() < deadline:
            if pump is not None:
                pump()
            try:
                chunk = self.sock.recv(size - len(data))
            except TimeoutError:
                continue
            if not chunk:
                raise ConnectionError("closed during the handshake")
            data += chunk
        return data

    def send(self, data):
        self.sock.sendall(data)

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
    """A bare pyenet host connected to a pygnetic server."""

    def __init__(self, port, connect_data):
        self.host = enet.Host(None, 1, 8, 0, 0)
        self.peer = self.host.connect(enet.Address(b"127.0.0.1", port), 8, connect_data)
        self.received = []
        self.disconnect_data = None

    def service(self, duration=0.05):
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            event = self.host.service(5)
            while event.type != enet.EVENT_TYPE_NONE:
                if event.type == enet.EVENT_TYPE_RECEIVE:
                    self.received.append(event.packet.data)
                elif event.type == enet.EVENT_TYPE_DISCONNECT:
                    self.disconnect_data = event.data
                event = self.host.service(0)

    def send(self, data, channel=0):
        self.peer.send(channel, enet.Packet(data, enet.PACKET_FLAG_RELIABLE))
        self.host.flush()
