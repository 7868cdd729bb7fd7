"""The request/answer helper over the memory transport, both ways, with a driven clock."""

import pytest

import pygnetic
from pygnetic.adapters.network.memory import MemoryNetwork
from pygnetic.errors import LocalError, MessageArgumentsError, MessageError, RegistryError
from pygnetic.protocol import CloseCode
from pygnetic.request import (
    BUSY,
    INTERNAL,
    INVALID,
    MAX_CODE_LENGTH,
    MAX_REASON_LENGTH,
    MAX_REQUEST_ID,
    RequestAborted,
    Requester,
    RequestError,
    RequestRefused,
    RequestTimeout,
    RequestTypes,
)
from pygnetic.testing import Recorder, pump

factory = pygnetic.MessageFactory("msgpack")
get_score = factory.register("get_score", ("request_id", "player"))
score = factory.register("score", ("request_id", "points"))
get_turn = factory.register("get_turn", ("request_id",))
turn = factory.register("turn", ("request_id", "number"))
note = factory.register("note", ("text",))
requests = RequestTypes(factory, max_pending=2, max_invalid=3)
requests.add(get_score, score)
requests.add(get_turn, turn)
refused = requests.refusal

SCORES = {"Tom": 12, "Ann": 7}


class Answering(pygnetic.Handler):
    """Answers get_score at once and get_turn later; records plain notes."""

    def __init__(self):
        self.waiting = []
        self.notes = []

    @requests.answers(get_score)
    def net_get_score(self, message):
        player = message.player
        if player == "bad":
            raise MessageError("player must not be bad")
        if player == "boom":
            raise ZeroDivisionError("bug in the answering code")
        if player not in SCORES:
            raise RequestRefused("no such player", code="unknown")
        return (SCORES[player],)

    @requests.answers(get_turn, deferred=True)
    def net_get_turn(self, message, reply):
        self.waiting.append(reply)

    def net_note(self, message):
        self.notes.append(message.text)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Pair:
    """A server and a client on a memory network; one side asks, the other answers."""

    def __init__(self, server_asks=False, answering=Answering):
        self.clock = Clock()
        self.network = MemoryNetwork()
        options = {"adapter": "memory", "network": self.network, "message_factory": factory}
        handler = None if server_asks else answering
        self.server = pygnetic.Server(handler=handler, clock=self.clock, **options)
        self.client = pygnetic.Client(clock=self.clock, **options)
        client_side = self.client.connect("memory", self.server.address[1])
        if server_asks:
            client_side.add_handler(answering())
        assert pump(self.server, self.client, until=lambda: client_side.connected)
        server_side = self.server.connections()[0]
        asking, answering = (
            (server_side, client_side) if server_asks else (client_side, server_side)
        )
        self.answering = answering.handlers()[0]
        self.answering_connection = answering
        self.connection = asking
        self.asker = Requester(asking, requests, clock=self.clock, pump=self.step)

    def step(self, timeout_ms=0):
        """What wait() pumps: time passes, both hosts update."""
        self.clock.now += timeout_ms / 1000
        self.server.update()
        self.client.update()

    def run(self, until=lambda: False, rounds=10):
        for _ in range(rounds):
            self.step()
            if until():
                return True
        return False

    def close(self):
        self.client.close()
        self.server.close()


@pytest.fixture(params=[False, True], ids=["client asks", "server asks"])
def pair(request):
    made = Pair(server_asks=request.param)
    yield made
    made.close()


def test_the_answer_completes_the_request_inside_update(pair):
    seen = []
    request = pair.asker.ask(get_score, "Tom", callback=seen.append)
    assert not request.done
    assert seen == []
    assert pair.asker.pending == 1
    assert pair.run(until=lambda: seen)
    assert seen == [request]
    assert request.done
    assert request.error is None
    assert request.result() == score(request.request_id, 12)
    assert pair.asker.pending == 0


def test_answers_are_matched_by_request_id_whatever_their_order(pair):
    first, second = pair.asker.ask(get_turn), pair.asker.ask(get_turn)
    assert first.request_id != second.request_id
    assert pair.run(until=lambda: len(pair.answering.waiting) == 2)
    later, sooner = pair.answering.waiting
    sooner.answer(2)
    later.answer(1)
    assert pair.run(until=lambda: first.done and second.done)
    assert (first.result().number, second.result().number) == (1, 2)


def test_a_refusal_carries_its_reason_and_code(pair):
    request = pair.asker.ask(get_score, "Nobody")
    pair.run(until=lambda: request.done)
    error = request.error
    assert isinstance(error, RequestRefused)
    assert (error.reason, error.code, str(error)) == (
        "no such player",
        "unknown",
        "no such player",
    )
    with pytest.raises(RequestRefused, match="no such player"):
        request.result()
    with pytest.raises(RequestRefused):
        request.wait(1)


def test_a_message_error_refuses_as_invalid_and_too_many_close_the_connection(pair):
    made = [pair.asker.ask(get_score, "bad") for _ in range(2)]
    pair.run(until=lambda: all(r.done for r in made))
    assert [(r.error.code, r.error.reason) for r in made] == [
        (INVALID, "player must not be bad")
    ] * 2
    waiting = pair.asker.ask(get_turn)
    pair.run(until=lambda: pair.answering.waiting)
    last = pair.asker.ask(get_score, "bad")  # the third: the answering side closes
    assert pair.run(until=lambda: waiting.done)
    assert isinstance(waiting.error, RequestAborted)
    assert waiting.error.close_code is CloseCode.PROTOCOL_ERROR
    assert waiting.error.close_reason == "too many invalid requests"
    assert "too many invalid requests" in str(waiting.error)
    assert last.done  # refused just before the close, or aborted by it
    assert pair.asker.pending == 0


def test_an_unexpected_exception_refuses_as_internal_and_propagates(pair):
    request = pair.asker.ask(get_score, "boom")
    with pytest.raises(ZeroDivisionError):
        pair.run()
    pair.run(until=lambda: request.done)
    assert request.error.code == INTERNAL
    assert request.error.reason == "the peer failed to answer get_score"


def test_a_request_times_out_at_its_deadline_and_a_late_answer_is_ignored(pair):
    seen = []
    request = pair.asker.ask(get_turn, timeout=2, callback=seen.append)
    assert request.deadline == 2.0
    pair.run(until=lambda: pair.answering.waiting)
    pair.clock.now = 1.99
    assert pair.asker.poll() == 0
    assert not request.done
    pair.clock.now = 2.0
    assert seen == []  # nothing completes outside poll(), update() or a look at it
    assert pair.asker.poll() == 1
    assert seen == [request]
    assert isinstance(request.error, RequestTimeout)
    assert isinstance(request.error, TimeoutError)
    assert str(request.error) == "no answer to get_turn within 2 s"
    pair.answering.waiting[0].answer(5)
    pair.run(rounds=3)
    assert seen == [request]
    assert isinstance(request.error, RequestTimeout)


def test_looking_at_an_overdue_request_times_it_out_without_poll(pair):
    request = pair.asker.ask(get_turn)  # the default timeout: 10 s
    pair.run(rounds=3)
    pair.clock.now = 9.9
    assert not request.done
    pair.clock.now = 10.0
    assert request.done
    assert isinstance(request.error, RequestTimeout)
    assert pair.asker.pending == 0


def test_wait_pumps_until_the_answer_arrives(pair):
    assert pair.asker.ask(get_score, "Ann").wait(1).points == 7


def test_wait_gives_up_after_its_timeout_and_the_request_stays_pending(pair):
    request = pair.asker.ask(get_turn)
    with pytest.raises(RequestTimeout, match=r"within 0.5 s \(the request is still pending\)"):
        request.wait(0.5)
    assert not request.done
    assert 0.5 <= pair.clock.now < 1.0  # wait() used the requester's clock
    pair.answering.waiting[0].answer(3)
    assert request.wait(0.5).number == 3


def test_wait_without_timeout_stops_at_the_requests_deadline(pair):
    request = pair.asker.ask(get_turn, timeout=3)
    with pytest.raises(RequestTimeout, match="within 3 s"):
        request.wait()
    assert request.done
    assert 3.0 <= pair.clock.now < 3.1


def test_pending_requests_fail_at_once_when_the_peer_closes(pair):
    seen = []
    made = [pair.asker.ask(get_turn, callback=seen.append) for _ in range(2)]
    pair.run(until=lambda: len(pair.answering.waiting) == 2)
    pair.answering_connection.disconnect("server going down")
    pair.run(until=lambda: pair.connection.close_code is not None, rounds=3)
    assert seen == made  # in the update() that noticed, not at the deadline
    for request in made:
        assert isinstance(request.error, RequestAborted)
        assert request.error.close_reason == "server going down"
        assert "server going down" in str(request.error)


def test_closing_locally_fails_pending_requests_at_the_next_look(pair):
    request = pair.asker.ask(get_turn)
    pair.connection.disconnect("leaving")
    assert request.done
    assert request.error.close_reason == "leaving"
    late = pair.asker.ask(get_score, "Tom")  # on a closed connection: fails at once too
    assert isinstance(late.error, RequestAborted)


def test_deferred_replies_are_bounded_per_connection(pair):
    held = [pair.asker.ask(get_turn) for _ in range(2)]
    over = pair.asker.ask(get_turn)
    pair.run(until=lambda: over.done)
    assert (over.error.code, over.error.reason) == (BUSY, "too many pending requests (limit 2)")
    assert not any(r.done for r in held)
    assert pair.asker.ask(get_score, "Tom").wait(1).points == 12  # answered at once: no limit
    pair.answering.waiting[0].answer(1)
    again = pair.asker.ask(get_turn)
    pair.run(until=lambda: len(pair.answering.waiting) == 3)
    assert not again.done
    assert pair.connection.connected  # busy refusals are not invalid requests


def test_a_request_sent_while_connecting_is_answered_once_accepted():
    made = Pair()
    client = pygnetic.Client(adapter="memory", network=made.network, message_factory=factory)
    try:
        connection = client.connect("memory", made.server.address[1])
        assert not connection.connected
        asker = Requester(connection, requests, clock=made.clock)
        request = asker.ask(get_score, "Ann")
        assert pump(made.server, client, until=lambda: request.done)
        assert request.result().points == 7
    finally:
        client.close()
        made.close()


def hostile(answers):
    """A Pair whose answering side is replaced by ``answers(message, connection)``."""

    class Hostile(pygnetic.Handler):
        def on_receive(self, message, **kwargs):
            answers(message, self.connection)

    return Pair(answering=Hostile)


def test_received_reasons_and_codes_are_capped_and_cleaned():
    replies = iter(
        [
            ("c" * 1000, "line\nbreak " * 1000),
            (404, 12345),
            (2**40, None),
            ([1, 2], "x"),
        ]
    )

    def refuse(message, connection):
        connection.send(refused, message.request_id, *next(replies))

    made = hostile(refuse)
    try:
        errors = [made.asker.ask(get_score, "Tom") for _ in range(4)]
        made.run(until=lambda: all(r.done for r in errors))
        first, second, third, fourth = (r.error for r in errors)
        assert first.code == "c" * MAX_CODE_LENGTH
        assert len(first.reason) == MAX_REASON_LENGTH
        assert "\n" not in first.reason and first.reason.startswith("line?break ")
        assert (second.code, second.reason) == (404, "refused without a reason")
        assert third.code is None
        assert (fourth.code, fourth.reason) == (None, "x")
    finally:
        made.close()


def test_an_answer_of_the_wrong_type_fails_the_request():
    made = hostile(lambda message, connection: connection.send(turn, message.request_id, 1))
    try:
        request = made.asker.ask(get_score, "Tom")
        made.run(until=lambda: request.done)
        assert type(request.error) is RequestError
        assert str(request.error) == "get_score was answered with turn, not score"
    finally:
        made.close()


def test_unknown_ids_are_ignored_and_a_bad_request_id_is_refused_as_invalid(pair):
    recorder = Recorder()
    pair.connection.add_handler(recorder)
    pair.answering_connection.send(score, 999, 1)  # nobody asked
    pair.answering_connection.send(refused, "junk", None, "?")
    pair.connection.send(get_score, "not an id", "Tom")
    pair.run(until=lambda: len(recorder.received) == 3)
    assert recorder.received[2] == refused(
        None, INVALID, "get_score: request_id must be an int from 0 to 2147483647"
    )
    assert pair.connection.connected


def test_request_ids_are_bounded_and_skip_pending_ones(pair):
    asker = pair.asker
    asker._next_id = MAX_REQUEST_ID - 1
    held = [asker.ask(get_turn).request_id for _ in range(3)]
    assert held == [MAX_REQUEST_ID - 1, MAX_REQUEST_ID, 1]
    asker._next_id = MAX_REQUEST_ID
    assert asker.ask(get_turn).request_id == 2  # MAX_REQUEST_ID and 1 are still pending


def test_local_misuse_is_reported(pair):
    asker = pair.asker
    with pytest.raises(LocalError, match=r"note.* is not a declared request"):
        asker.ask(note, "hi")
    with pytest.raises(ValueError, match="timeout"):
        asker.ask(get_score, "Tom", timeout=0)
    with pytest.raises(MessageArgumentsError):
        asker.ask(get_score, "Tom", "extra")
    assert asker.pending == 0
    pending = asker.ask(get_turn)
    with pytest.raises(LocalError, match="still pending"):
        pending.result()
    with pytest.raises(LocalError, match="already has a Requester"):
        Requester(pair.connection, requests)
    other = RequestTypes(pygnetic.MessageFactory("msgpack"))
    with pytest.raises(LocalError, match="does not use the message factory"):
        Requester(pair.connection, other)


def test_a_reply_is_sent_once(pair):
    pair.asker.ask(get_turn)
    pair.run(until=lambda: pair.answering.waiting)
    reply = pair.answering.waiting[0]
    assert reply.answer(1)
    with pytest.raises(LocalError, match="already answered"):
        reply.refuse("too late")


def test_declarations_are_checked():
    messages = pygnetic.MessageFactory("msgpack")
    ask = messages.register("ask", ("request_id", "x"))
    no_id = messages.register("no_id", ("x",))
    types = RequestTypes(messages)
    with pytest.raises(RegistryError, match="request_id as its first field"):
        types.add(ask, no_id)
    with pytest.raises(RegistryError, match="not a message of this factory"):
        types.add(ask, score)
    types.add(ask, ask)
    with pytest.raises(RegistryError, match="again"):
        types.add("ask", ask)
    with pytest.raises(TypeError, match="must decorate a method named net_ask"):

        @types.answers(ask)
        def answer_ask(self, message):
            return ()

    with pytest.raises(RegistryError, match="frozen"):
        messages.set_frozen()
        RequestTypes(messages, refusal="no")


def test_an_answer_that_is_not_a_tuple_is_a_local_error():
    class Sloppy(pygnetic.Handler):
        @requests.answers(get_score)
        def net_get_score(self, message):
            return 12  # not (12,)

    made = Pair(answering=Sloppy)
    try:
        request = made.asker.ask(get_score, "Tom")
        with pytest.raises(TypeError, match="must return the fields of score"):
            made.run()
        made.run(until=lambda: request.done)
        assert request.error.code == INTERNAL
    finally:
        made.close()


def test_wait_pumps_the_connections_own_host_by_default():
    class CountingClient(pygnetic.Client):
        updates = 0

        def update(self, timeout=0):
            CountingClient.updates += 1
            super().update(timeout)

    network = MemoryNetwork()
    options = {"adapter": "memory", "network": network, "message_factory": factory}
    server = pygnetic.Server(**options)  # no handler: nobody answers
    client = CountingClient(**options)
    try:
        request = Requester(client.connect("memory", server.address[1]), requests).ask(get_turn)
        with pytest.raises(RequestTimeout):
            request.wait(0.05, step_ms=0)
        assert CountingClient.updates > 1
    finally:
        client.close()
        server.close()
