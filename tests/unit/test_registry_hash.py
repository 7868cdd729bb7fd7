"""The registry hash: equal everywhere for equal registries, different otherwise."""

import os
import subprocess
import sys

import pytest

from pygnetic.message import MessageFactory

SCRIPT = """
from pygnetic.message import MessageFactory
factory = MessageFactory('msgpack')
factory.register('chat_msg', ('player', 'msg'))
factory.register('move', ('x', 'y'), delivery='unreliable_sequenced', channel=1)
factory.register('ping')
print(factory.get_hash())
"""


def _registry(serializer="msgpack", messages=(("chat_msg", ("player", "msg")), ("ping", ()))):
    factory = MessageFactory(serializer)
    for name, fields in messages:
        factory.register(name, fields)
    return factory.get_hash()


def test_hash_is_identical_across_processes_with_different_hash_seeds():
    hashes = set()
    for seed in ("0", "1", "12345", "random"):
        environment = {**os.environ, "PYTHONHASHSEED": seed}
        output = subprocess.run(
            [sys.executable, "-c", SCRIPT],
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        hashes.add(int(output))
    assert len(hashes) == 1
    in_process = MessageFactory("msgpack")
    in_process.register("chat_msg", ("player", "msg"))
    in_process.register("move", ("x", "y"))
    in_process.register("ping")
    assert hashes == {in_process.get_hash()}


def test_hash_is_a_32_bit_unsigned_int():
    value = _registry()
    assert isinstance(value, int)
    assert 0 <= value < 2**32


@pytest.mark.parametrize(
    "changed",
    [
        {"serializer": "json"},
        {"messages": (("chat_msg", ("player", "text")), ("ping", ()))},
        {"messages": (("chat", ("player", "msg")), ("ping", ()))},
        {"messages": (("ping", ()), ("chat_msg", ("player", "msg")))},
        {"messages": (("chat_msg", ("msg", "player")), ("ping", ()))},
        {"messages": (("chat_msg", ("player", "msg")),)},
        {"messages": (("chat_msg", ("player", "msg")), ("ping", ()), ("pong", ()))},
    ],
    ids=["serializer", "field", "name", "order", "field-order", "fewer", "more"],
)
def test_hash_changes_with_any_difference(changed):
    assert _registry(**changed) != _registry()


def test_send_options_do_not_change_the_hash():
    plain = MessageFactory("msgpack")
    plain.register("move", ("x", "y"))
    tuned = MessageFactory("msgpack")
    tuned.register("move", ("x", "y"), channel=3, delivery="unreliable")
    assert plain.get_hash() == tuned.get_hash()
