"""update() hands on what was sent since the last update before the transports poll."""

import pygnetic
from pygnetic.adapters.network.memory import MemoryNetwork


def _spy(host, calls):
    for transport in host._transports:
        flush, poll = transport.flush, transport.poll

        def spied_flush(flush=flush):
            calls.append("flush")
            flush()

        def spied_poll(timeout_ms, poll=poll):
            calls.append("poll")
            poll(timeout_ms)

        transport.flush, transport.poll = spied_flush, spied_poll


def test_what_was_sent_between_updates_is_flushed_before_the_poll():
    """A peer woken by the transport's acknowledgement of the packet this answers may still be
    awake to take it; the transport's own bookkeeping in poll() comes after."""
    network = MemoryNetwork()
    server = pygnetic.Server(adapter="memory", network=network)
    client = pygnetic.Client(adapter="memory", network=network)
    try:
        client.connect("memory", server.address[1])
        calls = []
        _spy(client, calls)
        client.update()
        assert calls == ["flush", "poll", "flush"]  # and once more for what update() sent
    finally:
        client.close(linger_ms=0)
        server.close(linger_ms=0)
