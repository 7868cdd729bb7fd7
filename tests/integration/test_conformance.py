"""The adapter conformance suite over real ENet and real TCP sockets on 127.0.0.1."""

import pytest

from pygnetic.testing import AdapterConformance

try:
    import enet
except ImportError:
    enet = None


@pytest.mark.skipif(enet is None, reason="pyenet is not installed")
class TestEnet(AdapterConformance):
    adapter = "enet"


class TestSocket(AdapterConformance):
    adapter = "socket"
