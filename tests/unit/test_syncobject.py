"""SyncObject over the memory transport: what a game relies on, from both sides.

Each test declares its classes on a fresh MessageFactory (a class joins its
factory's registry when it is defined) and gives that factory to its hosts.
The server's manager ticks at every update (``interval=0``), so that one
:meth:`World.rounds` is a tick, its delivery, and the acknowledgements coming back.
"""

import gc
import logging

import pytest

import pygnetic
from pygnetic.adapters.network.memory import MemoryNetwork
from pygnetic.errors import LocalError
from pygnetic.handshake import MAGIC
from pygnetic.message import MessageFactory
from pygnetic.protocol import PACKET_FLAG_RELIABLE, CloseCode, Delivery
from pygnetic.syncobject import (
    SYNCOBJECT_MODE_MANUAL,
    ReplicaReadOnlyError,
    SyncObject,
    SyncObjectManager,
)
from pygnetic.testing import Recorder, pump


@pytest.fixture
def factory():
    return MessageFactory("msgpack")


class World:
    """A memory server with a manager, and ``count`` connected clients with theirs."""

    def __init__(self, factory, count=2, **manager_options):
        self.network = MemoryNetwork()
        self.server = pygnetic.Server(
            message_factory=factory, adapter="memory", network=self.network, conn_limit=8
        )
        self.objects = SyncObjectManager(self.server, interval=0, **manager_options)
        self.clients, self.connections, self.replicas, self.recorders = [], [], [], []
        for _ in range(count):
            self.join()

    def rounds(self, count=2):
        """Server, then every client, ``count`` times: each tick arrives and is acknowledged."""
        for _ in range(count):
            self.server.update()
            for client in self.clients:
                client.update()

    def join(self):
        """Connect one more client, with a manager and a Recorder; return both."""
        client = pygnetic.Client(
            message_factory=self.server.message_factory, adapter="memory", network=self.network
        )
        connection = client.connect("memory", self.server.address[1])
        replicas = SyncObjectManager(client)
        recorder = Recorder()
        connection.add_handler(recorder)
        self.clients.append(client)
        self.connections.append(connection)
        self.replicas.append(replicas)
        self.recorders.append(recorder)
        assert pump(self.server, *self.clients, until=lambda: connection.connected, timeout=2)
        return replicas, connection

    def remote(self, connection):
        """The server's end of ``connection``."""
        port = connection._link.peer.address[1]
        return next(c for c in self.server.connections() if c.address[1] == port)


def _ball_class(factory, sync_var=("x", "y"), name="Ball", **attributes):
    """A SyncObject class on ``factory``; its replicas record their callbacks in ``calls``."""

    def on_change(self):
        self.calls.append(("change", self, self.x))

    def on_delete(self):
        self.calls.append(("delete", self))

    def __init__(self):
        self.replies = []  # the server's object's own; a replica is made without __init__

    def on_reply(self, packet_id):
        self.replies.append(packet_id)

    namespace = {
        "message_factory": factory,
        "sync_var": sync_var,
        "calls": [],  # of every replica of the class
        "__init__": __init__,
        "on_change": on_change,
        "on_delete": on_delete,
        "on_reply": on_reply,
        **attributes,
    }
    return type(name, (SyncObject,), namespace)


def _ball(cls, x=0, y=0):
    ball = cls()
    ball.x, ball.y = x, y
    return ball


def _changes_of(replica):
    return [call[2] for call in replica.calls if call[0] == "change" and call[1] is replica]


# -- every client sees the server's objects ----------------------------------------


def test_a_change_reaches_every_client_and_on_change_runs_once_per_change(factory):
    Ball = _ball_class(factory)
    world = World(factory)
    ball = world.objects.add(_ball(Ball, 1, 2))
    world.rounds()
    replicas = [manager.get(ball.sync_id) for manager in world.replicas]
    for x in (3, 4, 5):
        ball.x = x
        world.rounds()
    world.rounds(3)  # idle ticks send nothing new
    for replica in replicas:
        assert (replica.x, replica.y) == (5, 2)
        assert _changes_of(replica) == [1, 3, 4, 5]
    assert [recorder.received for recorder in world.recorders] == [[], []]  # not the game's


def test_on_change_does_not_repeat_while_an_acknowledgement_is_on_its_way(factory):
    Ball = _ball_class(factory)
    world = World(factory, count=1)
    ball, other = world.objects.add(_ball(Ball)), world.objects.add(_ball(Ball))
    world.rounds()
    ball.x = 7
    world.server.update()  # a delta since the acknowledged time order, with x = 7
    other.x = 1
    world.server.update()  # no acknowledgement yet: the delta repeats x = 7
    world.clients[0].update()  # both arrive
    replica = world.replicas[0].get(ball.sync_id)
    assert replica.x == 7 and world.replicas[0].changed
    assert _changes_of(replica) == [0, 7]
    assert _changes_of(world.replicas[0].get(other.sync_id)) == [0, 1]
    world.rounds()
    assert not world.replicas[0].changed and not world.objects.changed


def test_assigning_the_same_value_is_no_change(factory):
    Ball = _ball_class(factory)
    world = World(factory, count=1)
    ball = world.objects.add(_ball(Ball, 1, 1))
    world.rounds()
    ball.x = 1
    world.rounds()
    assert _changes_of(world.replicas[0].get(ball.sync_id)) == [1]


def test_manual_mode_waits_for_send_changes(factory):
    Ball = _ball_class(factory, sync_mode=SYNCOBJECT_MODE_MANUAL)
    world = World(factory, count=1)
    ball = world.objects.add(_ball(Ball, 1, 1))  # added: sent whatever the mode
    world.rounds()
    replica = world.replicas[0].get(ball.sync_id)
    ball.x = 2
    ball.y = 3
    world.rounds(3)
    assert (replica.x, replica.y) == (1, 1)
    ball.send_changes()
    world.rounds()
    assert (replica.x, replica.y) == (2, 3)
    assert _changes_of(replica) == [1, 2]  # both attributes in one state message


def test_notify_change_sends_a_change_made_in_place(factory):
    Ball = _ball_class(factory, sync_var=("x", "trail"))
    world = World(factory, count=1)
    ball = Ball()
    ball.x, ball.trail = 0, [(0, 0)]
    world.objects.add(ball)
    world.rounds()
    replica = world.replicas[0].get(ball.sync_id)
    ball.trail.append((1, 1))
    world.rounds()
    assert replica.trail == [[0, 0]]  # not an assignment: nothing was sent
    ball.notify_change("trail")
    world.rounds()
    assert replica.trail == [[0, 0], [1, 1]]
    assert len(_changes_of(replica)) == 2
    with pytest.raises(KeyError, match="colour"):
        ball.notify_change("colour")


def test_a_dict_attribute_is_replaced_not_merged(factory):
    Board = _ball_class(factory, sync_var=("x", "scores"))
    world = World(factory, count=1)
    board = Board()
    board.x, board.scores = 0, {"tom": 1, "ann": 2, "teams": {"red": 1, "blue": 2}}
    world.objects.add(board)
    world.rounds()
    replica = world.replicas[0].get(board.sync_id)
    for scores in (
        {"tom": 3, "teams": {"red": 1, "blue": 2}},  # a key gone
        {"tom": 3, "teams": {"blue": 5}},  # a key gone one level down
        {"tom": 3, "teams": 0},  # a dict replaced by a number
        {"ann": {"wins": 1}},
    ):
        board.scores = scores
        world.rounds()
        assert replica.scores == scores
    late, _ = world.join()
    world.rounds()
    assert late.get(board.sync_id).scores == {"ann": {"wins": 1}}
    assert len([c for c in Board.calls if c[1] is replica]) == 5  # made, then four changes


def test_objects_that_compare_equal_are_each_sent(factory):
    def __eq__(self, other):  # a class of the game's, comparing by value
        return type(other) is type(self) and (self.x, self.y) == (other.x, other.y)

    Ball = _ball_class(factory, __eq__=__eq__, __hash__=lambda self: hash((self.x, self.y)))
    world = World(factory, count=1)
    balls = [world.objects.add(_ball(Ball)) for _ in range(3)]
    world.rounds()
    for ball in balls:
        ball.x = 9
    world.rounds()
    assert sorted(r.sync_id for r in world.replicas[0]) == [b.sync_id for b in balls]
    assert [r.x for r in world.replicas[0]] == [9, 9, 9]


# -- lifetime ------------------------------------------------------------------------


def test_a_late_joiner_gets_every_object(factory):
    Ball = _ball_class(factory)
    world = World(factory, count=1)
    balls = [world.objects.add(_ball(Ball, x)) for x in range(5)]
    world.rounds()
    balls[2].x = 20
    world.objects.remove(balls[4])
    world.rounds()
    late, _ = world.join()
    world.rounds()
    assert {r.sync_id: r.x for r in late} == {1: 0, 2: 1, 3: 20, 4: 3}
    assert len(late) == 4


@pytest.mark.parametrize("how", ["remove", "del"])
def test_an_object_removed_disappears_from_every_client(factory, how):
    Ball = _ball_class(factory)
    world = World(factory)
    ball, kept = world.objects.add(_ball(Ball)), world.objects.add(_ball(Ball))
    world.rounds()
    replicas = [manager.get(ball.sync_id) for manager in world.replicas]
    sync_id = ball.sync_id
    if how == "remove":
        world.objects.remove(ball)
        world.objects.remove(ball)  # twice is no error
    else:
        del ball  # the manager holds objects weakly
        gc.collect()
    world.rounds()
    assert len(world.objects) == 1 and list(world.objects) == [kept]
    for manager, replica in zip(world.replicas, replicas, strict=True):
        assert manager.get(sync_id) is None
        assert [r.sync_id for r in manager] == [kept.sync_id]
        assert [c for c in replica.calls if c[0] == "delete" and c[1] is replica] == [
            ("delete", replica)
        ]


def test_a_removed_object_is_local_again(factory):
    Ball = _ball_class(factory)
    world = World(factory, count=1)
    ball = world.objects.add(_ball(Ball))
    world.rounds()
    world.objects.remove(ball)
    ball.x = 5  # no manager: nothing to send, no error
    world.rounds()
    assert len(world.replicas[0]) == 0
    again = world.objects.add(ball)  # and may be added anew, with a new number
    world.rounds()
    assert again.sync_id == 2 and world.replicas[0].get(2).x == 5


# -- replicas ------------------------------------------------------------------------


def test_replicas_are_read_only_instances_of_the_class(factory):
    Ball = _ball_class(factory)
    world = World(factory, count=1)
    ball = world.objects.add(_ball(Ball, 1, 2))
    world.rounds()
    replica = world.replicas[0].get(ball.sync_id)
    assert type(replica) is Ball and replica is not ball
    assert world.replicas[0].of_type(Ball) == [replica]
    with pytest.raises(ReplicaReadOnlyError, match="change it on the server"):
        replica.x = 5
    assert isinstance(ReplicaReadOnlyError("x"), LocalError)
    assert isinstance(ReplicaReadOnlyError("x"), AttributeError)
    assert replica.x == 1
    with pytest.raises(LocalError, match="made on the server"):
        world.replicas[0].add(Ball())


def test_attributes_not_in_sync_var_stay_local(factory):
    Ball = _ball_class(factory)
    world = World(factory, count=1)
    ball = _ball(Ball)
    ball.colour = "red"
    world.objects.add(ball)
    ball.speed = 3
    world.rounds()
    replica = world.replicas[0].get(ball.sync_id)
    assert not hasattr(replica, "colour") and not hasattr(replica, "speed")
    replica.colour = "blue"  # a replica's own attribute: allowed, and stays there
    ball.x = 1
    world.rounds()
    assert (replica.colour, ball.colour) == ("blue", "red")


def test_on_reply_runs_once_every_client_has_the_change(factory):
    Ball = _ball_class(factory)
    world = World(factory)
    ball = world.objects.add(_ball(Ball))
    world.rounds()
    assert len(ball.replies) == 1  # its addition
    ball.x = 1
    server, (first, second) = world.server, world.clients
    server.update()  # the change leaves
    first.update()  # and is acknowledged by one client
    server.update()
    server.update()
    assert len(ball.replies) == 1
    second.update()
    server.update()
    assert ball.replies[1:] == [world.objects._replicators[0].time_order]
    world.rounds(3)
    assert len(ball.replies) == 2


# -- send options --------------------------------------------------------------------


def _state_sends(world, connection):
    """(channel, delivery) of every state message the server sent over ``connection``."""
    key = world.server.message_factory.get_type_id("syncobject_state")
    serializer = world.server.message_factory.serializer
    link = world.remote(connection)._link
    messages = [(data, c, d) for data, c, d in link.sent if not data.startswith(MAGIC)]
    return {(c, d) for data, c, d in messages if serializer.unpack(data)[0] == key}


@pytest.mark.parametrize(
    ("sync_flags", "expected"),
    [
        (None, (1, Delivery.UNRELIABLE_SEQUENCED)),
        ({"channel": 2}, (2, Delivery.UNRELIABLE_SEQUENCED)),
        ({"channel": 3, "delivery": "reliable"}, (3, Delivery.RELIABLE)),
        (PACKET_FLAG_RELIABLE, (1, Delivery.RELIABLE)),
        ({"flags": 0, "channel": 4}, (4, Delivery.UNRELIABLE_SEQUENCED)),
    ],
)
def test_sync_flags_choose_the_channel_and_delivery(factory, sync_flags, expected):
    Ball = _ball_class(factory, sync_flags=sync_flags)
    world = World(factory, count=1)
    ball = world.objects.add(_ball(Ball))
    world.rounds()
    ball.x = 1
    world.rounds()
    assert world.replicas[0].get(ball.sync_id).x == 1
    assert _state_sends(world, world.connections[0]) == {expected}


def test_classes_of_several_sync_flags_each_arrive(factory):
    Ball = _ball_class(factory)
    Wall = type("Wall", (Ball,), {"sync_flags": {"channel": 2, "delivery": "reliable"}})
    world = World(factory, count=1)
    ball, wall = world.objects.add(_ball(Ball, 1)), world.objects.add(_ball(Wall, 2))
    world.rounds()
    assert {type(r): r.x for r in world.replicas[0]} == {Ball: 1, Wall: 2}
    world.objects.remove(wall)
    world.rounds()
    assert [r.sync_id for r in world.replicas[0]] == [ball.sync_id]
    assert _state_sends(world, world.connections[0]) == {
        (1, Delivery.UNRELIABLE_SEQUENCED),
        (2, Delivery.RELIABLE),
    }


@pytest.mark.parametrize("sync_flags", [True, "reliable", {"chanel": 2}, 1.5])
def test_bad_sync_flags_raise_at_the_class_and_register_nothing(factory, sync_flags):
    before = factory.names()
    with pytest.raises(TypeError, match="sync_flags"):
        _ball_class(factory, sync_flags=sync_flags)
    assert factory.names() == before


# -- declarations ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "theirs",
    [{"sync_var": ("x", "z")}, {"sync_var": ("y", "x")}, {"sync_flags": {"channel": 2}}],
    ids=["other sync_var", "other order", "other sync_flags"],
)
def test_a_client_that_declares_a_class_otherwise_is_refused(factory, theirs):
    _ball_class(factory)
    other = MessageFactory("msgpack")
    _ball_class(other, **theirs)
    network = MemoryNetwork()
    server = pygnetic.Server(message_factory=factory, adapter="memory", network=network)
    client = pygnetic.Client(message_factory=other, adapter="memory", network=network)
    SyncObjectManager(server, interval=0)
    replicas = SyncObjectManager(client)
    connection = client.connect("memory", server.address[1])
    assert pump(server, client, until=lambda: not connection.connected and connection.close_code)
    assert connection.close_code is CloseCode.REGISTRY_MISMATCH
    assert "registry" in connection.close_reason
    assert len(replicas) == 0


def test_a_manager_needs_a_syncobject_class_on_its_factory(factory):
    factory.register("chat_msg", ("text",))
    server = pygnetic.Server(message_factory=factory, adapter="memory", network=MemoryNetwork())
    with pytest.raises(LocalError, match="no SyncObject class"):
        SyncObjectManager(server)


def test_an_object_is_added_to_one_manager_once(factory):
    Ball = _ball_class(factory)
    world = World(factory, count=1)
    ball = world.objects.add(_ball(Ball))
    with pytest.raises(LocalError, match="bound to a manager already"):
        world.objects.add(ball)


def test_a_manager_closed_stops_synchronising(factory):
    Ball = _ball_class(factory)
    world = World(factory, count=1)
    ball = world.objects.add(_ball(Ball))
    world.rounds()
    world.objects.close()
    ball.x = 3
    world.rounds()
    assert world.replicas[0].get(ball.sync_id).x == 0


# -- hostile input: a client's connection to a server that sends other shapes ----------


def _forged(ball_id, type_id, other_type_id):
    """``(base, deletes, sets)`` of state messages no server of the same classes sends.

    A base of 0 stands for the client's time order: a delta it applies.
    """
    return {
        "whole state not a dict": (None, [], 5),
        "delta sets not a dict": (0, [], [1]),
        "unknown class key": (None, [], {ball_id: {0: 999, 1: 5}}),
        "class key a list": (None, [], {ball_id: {0: [1]}}),
        "entry not a dict": (0, [], {ball_id + 1: 7}),
        "entry None": (0, [], {ball_id + 1: None}),
        "object number a string": (0, [], {"x": {0: type_id}}),
        "deleted path headed by a list": (0, [[[1], 1]], {}),
        "attribute number out of range": (0, [], {ball_id: {7: 1}}),
        "attribute number a string": (None, [], {ball_id: {0: type_id, "x": 1}}),
        "class key deleted": (0, [[ball_id, 0]], {}),
        "another class for an object": (0, [], {ball_id: {0: other_type_id}}),
        "a class of another stream": (0, [], {ball_id + 1: {0: other_type_id}}),
    }


@pytest.mark.parametrize("case", list(_forged(1, 1, 1)))
def test_a_state_of_another_shape_closes_only_that_connection(factory, caplog, case):
    Ball = _ball_class(factory)
    Wall = _ball_class(factory, name="Wall", sync_flags={"channel": 2})
    world = World(factory)
    ball = world.objects.add(_ball(Ball, 1))
    world.rounds()
    victim, bystander = world.connections
    replica = world.replicas[0].get(ball.sync_id)
    state = factory.get_by_name("syncobject_state")
    base, deletes, sets = _forged(ball.sync_id, Ball._sync_type_id, Wall._sync_type_id)[case]
    if base is not None:
        base = world.replicas[0]._replicas[victim][0].time_order
    with caplog.at_level(logging.WARNING, "pygnetic.replication"):
        world.remote(victim).send(state, 0, 10**6, base, deletes, sets)
        world.rounds()
    assert victim.close_code is CloseCode.PROTOCOL_ERROR
    assert victim.close_reason in caplog.text
    assert (replica.x, world.replicas[0].get(ball.sync_id)) == (1, replica)  # not applied
    ball.x = 2
    world.rounds()
    assert bystander.connected and world.replicas[1].get(ball.sync_id).x == 2


def test_an_acknowledgement_without_an_int_stream_closes_only_that_connection(factory, caplog):
    Ball = _ball_class(factory)
    world = World(factory)
    ball = world.objects.add(_ball(Ball))
    world.rounds()
    hostile, honest = world.connections
    ack = factory.get_by_name("syncobject_ack")
    with caplog.at_level(logging.WARNING, "pygnetic.replication"):
        hostile.send(ack, [1], 1, 1)
        world.rounds()
    assert hostile.close_code is CloseCode.PROTOCOL_ERROR
    assert "no int stream number" in caplog.text
    ball.x = 4
    world.rounds()
    assert honest.connected and world.replicas[1].get(ball.sync_id).x == 4


def test_a_factory_with_the_json_serializer_is_refused_with_the_reason():
    factory = MessageFactory("json")
    _ball_class(factory)
    server = pygnetic.Server(message_factory=factory, adapter="memory", network=MemoryNetwork())
    try:
        with pytest.raises(LocalError, match="int keys"):
            SyncObjectManager(server)
    finally:
        server.close()


def test_a_client_that_sends_state_or_a_class_marker_is_closed(factory, caplog):
    ball = _ball_class(factory)
    world = World(factory)
    kept = world.objects.add(ball())
    kept.x = kept.y = 0
    world.rounds()
    hostile, honest = world.connections
    state = factory.get_by_name("syncobject_state")
    with caplog.at_level(logging.WARNING, logger="pygnetic"):
        hostile.send(state, 0, 99, None, [], {})
        world.rounds()
    assert hostile.close_code is CloseCode.PROTOCOL_ERROR
    assert "may not be sent to this side" in hostile.close_reason
    assert honest.connected
    assert not [m for m in world.recorders[0].received if type(m) is state]


def test_a_server_that_sends_acknowledgements_is_closed(factory):
    _ball_class(factory)
    world = World(factory, count=1)
    world.rounds()
    ack = factory.get_by_name("syncobject_ack")
    world.remote(world.connections[0]).send(ack, 0, 1, 1)
    world.rounds()
    assert world.connections[0].close_code is CloseCode.PROTOCOL_ERROR


def test_a_sync_flags_channel_beyond_the_hosts_channels_is_an_error_at_once(factory):
    _ball_class(factory, name="Far", sync_flags={"channel": 40})
    server = pygnetic.Server(message_factory=factory, adapter="memory", network=MemoryNetwork())
    try:
        with pytest.raises(ValueError, match="channels=41"):
            SyncObjectManager(server)
    finally:
        server.close()
