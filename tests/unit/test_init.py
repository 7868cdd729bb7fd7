"""pygnetic.init(): adapter choice, fallback, logging; the public exports."""

import importlib
import logging
import subprocess
import sys

import pytest

import pygnetic
from pygnetic import _install


def _run(script):
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result


def test_init_falls_back_to_sockets_without_pyenet():
    result = _run(
        """
import sys
sys.modules['enet'] = None  # as if pyenet were not installed
import pygnetic
assert pygnetic.init() is True
server = pygnetic.Server('127.0.0.1', 0)
print(server.adapter.NAME)
server.close()
"""
    )
    assert result.stdout.strip() == "socket"
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, result.stderr  # one line: why, what it means, the fix
    assert "ENet is unavailable (import of enet halted" in warnings[0]
    assert "using TCP only, so peers that speak only ENet cannot connect" in warnings[0]
    assert warnings[0].endswith(f"install ENet with: {_install.enet_install_command()}")


def test_a_default_server_listens_on_enet_and_tcp_on_one_port():
    pytest.importorskip("enet")
    with pygnetic.Server("127.0.0.1", 0) as server:
        assert [module.NAME for module in server.adapters] == ["enet", "socket"]
        assert server.address[1] != 0


def test_missing_pyenet_names_the_extra_to_install():
    result = _run(
        """
import sys
sys.modules['enet'] = None
import pygnetic
try:
    pygnetic.Server('127.0.0.1', 0, adapter='enet')
except pygnetic.AdapterUnavailableError as exc:
    assert isinstance(exc, ImportError)
    print(exc)
"""
    )
    assert f"run: {_install.enet_install_command()}" in result.stdout


def test_init_reports_failure_when_nothing_is_available(caplog):
    assert pygnetic.init(n_module=("carrier_pigeon",), logging_lvl=None) is False
    assert "no network adapter available" in caplog.text


def test_init_logs_the_chosen_adapters_with_its_own_handler():
    result = _run(
        "import pygnetic, logging; pygnetic.init(n_module='socket', s_module='json');"
        "print(pygnetic.message.message_factory.serializer.name)"
    )
    assert result.stdout.strip() == "json"
    assert result.stderr == ""  # what was asked for was found: nothing to say at INFO
    result = _run(
        "import pygnetic, logging; pygnetic.init(logging_lvl=logging.DEBUG, n_module='socket')"
    )
    assert "DEBUG    using TCP network adapter(s)" in result.stderr
    assert "DEBUG    using msgpack serializer" in result.stderr


def test_a_missing_serializer_is_one_warning():
    result = _run("import pygnetic; pygnetic.init(n_module='socket', s_module=('bson', 'json'))")
    assert "WARNING  bson serializer unavailable (unknown serializer 'bson'" in result.stderr
    assert result.stderr.rstrip().endswith("): using json")


def test_logging_lvl_none_leaves_logging_alone():
    result = _run(
        "import logging, pygnetic; pygnetic.init(n_module='socket', logging_lvl=None);"
        "log = logging.getLogger('pygnetic'); print(len(log.handlers), log.level)"
    )
    assert result.stdout.split() == ["0", str(logging.NOTSET)]
    assert result.stderr == ""


def test_every_exported_name_exists_and_is_documented():
    for name in pygnetic.__all__:
        value = getattr(pygnetic, name)
        if name != "__version__" and not isinstance(value, pygnetic.message.MessageFactory):
            assert value.__doc__, name


@pytest.mark.parametrize(
    "module",
    [
        "pygnetic.message",
        "pygnetic.connection",
        "pygnetic.handler",
        "pygnetic.client",
        "pygnetic.server",
        "pygnetic.event",
        "pygnetic.errors",
        "pygnetic.protocol",
        "pygnetic.request",
        "pygnetic.testing",
        "pygnetic.testing.proxy",
        "pygnetic.simulate",
        "pygnetic.replication",
        "pygnetic.gamestate",
        "pygnetic.syncobject",
        "pygnetic.interpolate",
        "pygnetic.wire_types",
        "pygnetic.adapters.network",
        "pygnetic.adapters.serialization",
        "pygnetic.adapters.network.socket",
        "pygnetic.adapters.network.memory",
        "pygnetic.adapters.serialization.msgpack",
        "pygnetic.adapters.serialization.json",
    ],
)
def test_module_exports_exist(module):
    imported = importlib.import_module(module)
    assert imported.__doc__
    for name in imported.__all__:
        assert hasattr(imported, name), f"{module}.{name}"


def test_seed_module_paths_are_importable():
    from pygnetic.client import Client
    from pygnetic.connection import Connection
    from pygnetic.handler import Handler
    from pygnetic.message import MessageFactory, message_factory
    from pygnetic.server import Server

    assert pygnetic.Client is Client and pygnetic.Server is Server
    assert pygnetic.Handler is Handler and pygnetic.Connection is Connection
    assert pygnetic.MessageFactory is MessageFactory
    assert pygnetic.message_factory is message_factory
