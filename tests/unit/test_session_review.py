"""Sessions where they are easy to get wrong: a session that gave up, a raising handler.

Over the memory transport, with the helpers of ``test_sessions``.
"""

import pytest
from test_sessions import _pair, _pump

import pygnetic
from pygnetic.connection import ConnectionState


def _cut(p):
    """Sever the link and make the server unreachable; both sides notice."""
    p.network.sever(p.connection._link)
    listeners = dict(p.network.listeners)
    p.network.listeners.clear()
    for _ in range(12):
        p.clock.now += 0.25
        p.server.update()
        p.client.update()
    return listeners


def _restore(p, listeners):
    p.network.listeners.update(listeners)
    for _ in range(8):
        p.clock.now += 0.25
        p.server.update()
        p.client.update()


@pytest.mark.parametrize("stream", [False, True], ids=["packets", "stream"])
def test_give_up_during_outage_must_not_resume_with_a_hole(stream):
    """Docs: past max_replay_bytes 'a lost link then ends the connection'.

    Here the session gives up while RECONNECTING, stays RECONNECTING, and the
    resume succeeds although a message net_chat() said True for is gone.
    """
    p = _pair(stream)
    server_side = p.server.connections()[0]
    server_side._session.max_replay_bytes = 200
    listeners = _cut(p)
    assert server_side.state is ConnectionState.RECONNECTING
    assert server_side.net_chat("a" * 100)  # accepted: will be delivered after the resume
    assert not server_side.net_chat("b" * 150)  # over the bound: session gives up
    assert not server_side.resumable
    _restore(p, listeners)
    _pump([p.server, p.client], lambda: False, rounds=50)
    delivered = [m.n for m in p.mine.received]
    # Either the connection ended (as documented) or "a" arrived: neither happens.
    assert server_side.state is ConnectionState.CLOSED or "a" * 100 in delivered, (
        server_side.state,
        p.connection.state,
        delivered,
    )


@pytest.mark.parametrize("stream", [False, True], ids=["packets", "stream"])
def test_resume_of_a_non_resumable_open_session_loses_messages(stream):
    """Server gave up (too much unacked) but had not noticed the loss yet."""
    p = _pair(stream)
    server_side = p.server.connections()[0]
    server_side._session.max_replay_bytes = 200
    p.network.sever(p.connection._link)
    assert server_side.net_chat("a" * 150)  # in flight: lost on the wire
    assert server_side.net_chat("b" * 150)  # gives up (not resumable any more)
    assert not server_side.resumable
    # Only the client notices the loss (the server is not ticked meanwhile).
    for _ in range(12):
        p.clock.now += 0.25
        p.client.update()
    assert p.connection.state is ConnectionState.RECONNECTING
    _pump([p.server, p.client], lambda: False, rounds=50)
    delivered = [m.n for m in p.mine.received]
    assert p.connection.state is ConnectionState.CLOSED or delivered == ["a" * 150, "b" * 150], (
        p.connection.state,
        server_side.state,
        delivered,
    )


def test_a_raising_handler_makes_a_packet_count_wrong_and_duplicates_after_resume():
    p = _pair(False)
    server_side = p.server.connections()[0]

    class Raiser(pygnetic.Handler):
        raised = False

        def net_chat(self, message, **kwargs):
            if message.n == 1 and not Raiser.raised:
                Raiser.raised = True
                raise RuntimeError("game bug")

    server_side.add_handler(Raiser())
    for n in range(3):
        p.connection.net_chat(n)
    for _ in range(20):
        try:
            p.client.update()
            p.server.update()
        except RuntimeError:
            pass
    assert [m.n for m in p.theirs.received] == [0, 1, 2]
    p.clock.now += 0.3
    p.server.update()
    p.client.update()
    listeners = _cut(p)
    _restore(p, listeners)
    _pump([p.server, p.client], lambda: False, rounds=50)
    assert server_side.connected
    assert [m.n for m in p.theirs.received] == [0, 1, 2]  # fails: [0, 1, 2, 2]


@pytest.mark.parametrize("stream", [False, True], ids=["packets", "stream"])
def test_a_lost_resume_answer_is_survived(stream):
    """The server rotates the token when it takes the session over; if its
    answer is lost, the client comes back with the old token, and the resume
    is done again, with nothing lost or delivered twice."""
    p = _pair(stream, grace=30)
    server_side = p.server.connections()[0]
    p.connection.net_chat(1)
    server_side.net_chat(101)
    listeners = _cut(p)
    p.connection.net_chat(2)  # sent while down
    server_side.net_chat(102)
    p.network.listeners.update(listeners)
    old_link = p.connection._link
    # Pump until the client sent its resume hello over a new link.
    for _ in range(40):
        p.clock.now += 0.05
        p.client.update()
        if p.connection._link is not old_link:
            break
        p.server.update()
    assert p.connection._link is not old_link  # hello sent, waiting in the server's inbox
    p.server.update()  # server takes over and answers
    assert server_side.connected
    client_transport = p.client._transports[0]
    client_transport.inbox.clear()  # the answer is lost
    p.network.sever(p.connection._link)  # and the new link dies
    for _ in range(40):  # 10 s, well within the 30 s grace
        p.clock.now += 0.25
        p.server.update()
        p.client.update()
    assert p.connection.state is not ConnectionState.CLOSED, (
        p.connection.close_code,
        p.connection.close_reason,
    )
    server_side.net_chat(103)  # sent in the epoch whose answer was lost
    resumed = lambda: p.connection.connected and server_side.connected  # noqa: E731
    for _ in range(80):
        if resumed():
            break
        p.clock.now += 0.25
        p.server.update()
        p.client.update()
    assert resumed(), p.connection.close_reason
    p.connection.net_chat(3)
    both = lambda: len(p.theirs.received) == 3 and len(p.mine.received) == 3  # noqa: E731
    assert _pump([p.server, p.client], both)
    _pump([p.server, p.client], lambda: False, rounds=20)
    assert [m.n for m in p.theirs.received] == [1, 2, 3]
    assert [m.n for m in p.mine.received] == [101, 102, 103]
    assert p.theirs.resumes >= 1 and p.theirs.disconnects == 0


def test_what_overtakes_a_resume_answer_is_bounded():
    """A server that floods packets ahead of its resume answer closes the client, bounded."""
    from pygnetic.connection import MAX_EARLY_PACKETS

    p = _pair(False, grace=30)
    _cut(p)
    assert p.connection.state is ConnectionState.RECONNECTING
    for _ in range(64 * MAX_EARLY_PACKETS):
        p.connection._keep_early(b"x", 0x100)
    assert p.connection.state is ConnectionState.RECONNECTING  # a replay's worth waits
    p.connection._keep_early(b"x", 0x100)
    assert p.connection.close_code is pygnetic.CloseCode.PROTOCOL_ERROR
    assert f"more than {64 * MAX_EARLY_PACKETS} packets" in p.connection.close_reason
