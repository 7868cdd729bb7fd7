"""The benchmarks still run: ``python -m benchmarks --quick`` end to end, the
in-process ``python -m benchmarks.micro --quick`` and ``python -m
benchmarks.wire_types --quick`` (no speed asserted), ``python -m
benchmarks.replication --quick`` with every row that can run here,
``python -m benchmarks.state --quick`` with its table, and the WebSocket rows
beside the socket adapter's in one quick run."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> str:
    """Run ``python -m <args>`` in the checkout; return its output, failing on an error."""
    done = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,  # the whole quick run takes a minute or more on two cores
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_quick_benchmarks_produce_a_table(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    stdout = _run("benchmarks", "--quick", "--no-chart", "--json", str(out))
    assert "== Throughput, one client ==" in stdout
    assert "pygnetic-tcp" in stdout
    document = json.loads(out.read_text())
    tcp = document["results"]["throughput"]["pygnetic-tcp"]["metrics"]["rate"]
    assert tcp is not None and tcp["median"] > 0
    # The connect scenario (3 connects per row in --quick): every row connected,
    # each default connect over the transport its row says (a run fails if not).
    assert "== Connect, until the client can send ==" in stdout
    connect = document["results"]["connect"]
    for row in ("pygnetic-enet", "pygnetic-tcp", "pygnetic-default", "pygnetic-fallback-0.05s"):
        assert connect[row]["metrics"]["median_ms"] is not None, connect[row]["errors"]
    # A server on ENet and TCP serves a client pinned to either, paired with the one-adapter row.
    for row in ("pygnetic-enet+tcp-server", "pygnetic-tcp+enet-server"):
        assert document["results"]["roundtrip"][row]["metrics"]["median_us"] is not None
        assert document["variants"]["roundtrip"][row]["median_us"] is not None
    # A server with a reconnect_grace: every connection resumable (the row fails if not),
    # paired with plain pygnetic of its transport.
    measured = {"throughput": "rate", "roundtrip": "median_us", "fanout": "cpu"}
    for row in ("pygnetic-enet-resume", "pygnetic-tcp-resume"):
        for scenario, key in measured.items():
            result = document["results"][scenario][row]
            assert result["metrics"][key] is not None, result["errors"]
            assert document["variants"][scenario][row][key] is not None
    # The hand-written floors: ratios to raw, and pygnetic paired with them.
    for row, floor in (("pygnetic-enet", "hand-enet"), ("pygnetic-tcp", "hand-tcp")):
        for scenario, key in measured.items():
            result = document["results"][scenario][floor]
            assert result["metrics"][key] is not None, result["errors"]
            assert result["ratios"][key] is not None
            assert document["floors"][scenario][row][key] is not None
        assert f"throughput / {row} ÷ {floor}: messages/s " in stdout
    # Fan-out through the documented per-connection loop, paired with Server.broadcast.
    for row in ("pygnetic-enet-loop", "pygnetic-tcp-loop"):
        assert document["results"]["fanout"][row]["metrics"]["cpu"] is not None
        assert document["variants"]["fanout"][row]["cpu"] is not None
    # Receiving through pygame events, paired with the Handler path and judged against it.
    if importlib.util.find_spec("pygame") is not None:
        judged = {(c["impl"], c["scenario"]) for c in document["targets"] if "÷" in c["what"]}
        for row in ("pygnetic-enet-events", "pygnetic-tcp-events"):
            for scenario, key in (("throughput", "rate"), ("roundtrip", "median_us")):
                result = document["results"][scenario][row]
                assert result["metrics"][key] is not None, result["errors"]
                assert document["variants"][scenario][row]["server_cpu_us"] is not None
            assert (row, "throughput") in judged


def test_quick_micro_benchmark_times_every_path() -> None:
    stdout = _run("benchmarks.micro", "--quick")
    for path in ("send chat_msg", "receive packet", "receive stream", "idle update tcp"):
        assert path in stdout


def test_quick_wire_types_benchmark_times_a_vector2_field() -> None:
    stdout = _run("benchmarks.wire_types", "--quick")
    assert "pygnetic 24 bytes, by hand (msgpack of [x, y]) 25 bytes" in stdout
    for path in ("pack Vector2", "unpack, no pygame"):
        assert path in stdout
    if importlib.util.find_spec("pygame") is not None:
        assert "unpack to pygame" in stdout
    if importlib.util.find_spec("PodSixNet") is not None:
        assert "rencode cannot pack a Vector2" in stdout


@pytest.mark.slow
@pytest.mark.enet
@pytest.mark.skipif(importlib.util.find_spec("enet") is None, reason="no pyenet")
def test_the_delivery_table_is_measured_through_the_proxy_and_the_simulator() -> None:
    stdout = _run(
        "benchmarks.delivery", "--count", "60", "--conditions", "latency=5ms loss=10% seed=2"
    )
    for route in ("UdpProxy", "simulator"):
        for mode in ("RELIABLE", "UNRELIABLE_SEQUENCED", "UNRELIABLE"):
            assert f"   * - {route}\n     - ``{mode}``" in stdout, stdout
    assert "     - 100.0%" in stdout  # reliable messages all arrived


def _pygase_could_run() -> bool:
    return importlib.util.find_spec("pygase") is not None or bool(
        os.environ.get("PYGNETIC_PYGASE_PYTHON")
    )


@pytest.mark.slow
@pytest.mark.enet
@pytest.mark.skipif(importlib.util.find_spec("enet") is None, reason="no pyenet")
def test_the_replication_table_has_every_row_that_can_run(tmp_path: Path) -> None:
    out = tmp_path / "replication.json"
    stdout = _run("benchmarks.replication", "--quick", "--json", str(out))
    document = json.loads(out.read_text())
    rows, skipped = document["rows"], document["skipped"]
    could_run = {
        "whole-state-floor": True,
        "pygnetic-gamestate": importlib.util.find_spec("pygnetic.gamestate") is not None,
        "pygase-0.3.1": _pygase_could_run(),
    }
    for name, runs in could_run.items():
        if runs:
            assert name in rows, skipped.get(name)
            assert f"   * - {name}\n     - 10\n" in stdout  # the RST table, 10 clients
            assert rows[name]["ticks"] > 0 and rows[name]["bytes_per_client_second"] > 0
        else:
            assert f"skipping {name}: " in stdout


@pytest.mark.slow
def test_the_state_benchmark_measures_the_service_and_its_floor(tmp_path: Path) -> None:
    out = tmp_path / "state.json"
    stdout = _run("benchmarks.state", "--quick", "--json", str(out))
    assert "| service/s    p50    p99   mean |   floor/s" in stdout
    assert "where a request's time goes" in stdout
    document = json.loads(out.read_text())
    stores = ["sqlite"] + ([] if "redis" in document["skipped"] else ["redis"])
    if "redis" in document["skipped"]:
        assert "skipping redis: " in stdout
    cells = {(row["store"], row["op"], row["clients"]): row for row in document["rows"]}
    for store in stores:
        assert store in document["version"]
        for op in ("get", "set", "update"):
            for clients in (1, 50):
                row = cells[store, op, clients]
                assert f"{op:<6} {store:<6} {clients:>7} |" in stdout
                for side in ("service", "floor"):
                    # Every request answered, every compare-and-swap won (a key per client).
                    assert row[side]["ops_per_s"] > 0 and row[side]["errors"] == 0, row[side]


@pytest.mark.slow
def test_the_workspace_benchmark_measures_the_queue_and_its_floor(tmp_path: Path) -> None:
    out = tmp_path / "workspace.json"
    stdout = _run("benchmarks.workspace", "--quick", "--json", str(out))
    assert "| service/s    p50    p99 |   floor/s" in stdout
    assert "Where a pair's time goes" in stdout
    document = json.loads(out.read_text())
    stores = ["sqlite"] + ([] if "redis" in document["skipped"] else ["redis"])
    if "redis" in document["skipped"]:
        assert "skipping redis: " in stdout
    cells = {(row["store"], row["clients"]): row for row in document["rows"]}
    assert set(cells) == {(store, clients) for store in stores for clients in (1, 50)}
    for (store, clients), row in cells.items():
        assert f"{store:<6} {clients:>7} |" in stdout
        assert row["rate_ratio"] > 0
        for side in ("service", "floor"):
            # Every job stored was fetched, every request answered.
            assert row[side]["ops_per_s"] > 0 and row[side]["errors"] == 0, row[side]
            assert row[side]["p50_us"] > 0
        assert row["service"]["server_cpu_per_op_us"] > 0
        assert row["service"]["requests_per_pair"] >= 2
        if store == "redis":
            for side in ("service", "floor"):
                assert row[side]["redis_trips_per_pair"] >= 2


WEBSOCKET_ROWS = ("pygnetic-tcp", "pygnetic-tls", "pygnetic-websocket", "pygnetic-wss")


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("websockets") is None, reason="no websockets")
def test_the_websocket_rows_run_beside_the_socket_adapter_and_the_raw_floors(
    tmp_path: Path,
) -> None:
    out = tmp_path / "websocket.json"
    rows = [arg for row in WEBSOCKET_ROWS for arg in ("-i", row)]
    scenarios = ("-s", "throughput", "-s", "roundtrip")
    stdout = _run("benchmarks", "--quick", "--no-chart", *scenarios, *rows, "--json", str(out))
    document = json.loads(out.read_text())
    tls = importlib.util.find_spec("trustme") is not None
    expected = {"raw-tcp", "raw-websocket", "pygnetic-tcp", "pygnetic-websocket"}
    expected |= {"pygnetic-tls", "pygnetic-wss"} if tls else set()
    for scenario, key in (("throughput", "rate"), ("roundtrip", "median_us")):
        results = document["results"][scenario]
        assert expected <= set(results), stdout
        for row in expected:
            assert results[row]["metrics"][key] is not None, results[row]["errors"]
        # Ratios against the floor of the row's own transport, measured in the same run.
        assert results["pygnetic-websocket"]["ratios"][key] is not None
        assert results["pygnetic-tcp"]["ratios"][key] is not None
    if tls:
        assert document["variants"]["roundtrip"]["pygnetic-wss"]["median_us"] is not None
