"""Adapters are chosen by built-in name, by module, by dotted path, or several at once."""

import types

import pytest

import pygnetic
from pygnetic.adapters.network import load, memory
from pygnetic.adapters.network.memory import MemoryNetwork


def test_an_adapter_module_or_its_dotted_path_is_accepted():
    assert load(memory) is memory
    assert load("pygnetic.adapters.network.memory") is memory
    network = MemoryNetwork()
    server = pygnetic.Server(adapter=memory, network=network)
    client = pygnetic.Client(adapter="pygnetic.adapters.network.memory", network=network)
    connection = client.connect("memory", server.address[1])
    for _ in range(4):
        server.update()
        client.update()
    assert connection.connected
    assert server.adapter is memory


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("carrier_pigeon", "unknown network adapter 'carrier_pigeon'"),
        ("no.such.module", "cannot be imported"),
        ("json", "unknown network adapter"),
        (types.ModuleType("empty"), "needs a Transport class and a NAME"),
        ("pygnetic.protocol", "is not a network adapter"),
    ],
)
def test_what_is_not_an_adapter_is_a_clear_error(spec, message):
    with pytest.raises(ValueError, match=message):
        load(spec)


def test_several_adapters_must_be_distinct():
    with pytest.raises(ValueError, match="each network adapter once"):
        pygnetic.Server(adapter=("memory", memory), network=MemoryNetwork())
    with pytest.raises(ValueError, match="each network adapter once"):
        pygnetic.Server(adapter=(), network=MemoryNetwork())
