"""The adapter conformance suite over the in-memory transport, packets and streams."""

from pygnetic.adapters.network.memory import MemoryNetwork
from pygnetic.testing import AdapterConformance


class TestMemoryPackets(AdapterConformance):
    adapter = "memory"

    def setup_method(self):
        self.network = MemoryNetwork()

    def server_options(self):
        return {"network": self.network}

    client_options = server_options


class TestMemoryStream(TestMemoryPackets):
    def setup_method(self):
        # Cut every message into 7-byte slices, as a busy TCP link might.
        self.network = MemoryNetwork(stream=True, chunk=7)
