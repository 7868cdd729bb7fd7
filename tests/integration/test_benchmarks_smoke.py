"""The benchmarks still run: ``python -m benchmarks --quick`` end to end, and the
in-process ``python -m benchmarks.micro --quick`` (no speed asserted)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_benchmarks_produce_a_table(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--no-chart", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "== Throughput, one client ==" in done.stdout
    assert "pygnetic-tcp" in done.stdout
    document = json.loads(out.read_text())
    tcp = document["results"]["throughput"]["pygnetic-tcp"]["metrics"]["rate"]
    assert tcp is not None and tcp["median"] > 0


def test_quick_micro_benchmark_times_every_path() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.micro", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for path in ("send chat_msg", "receive packet", "receive stream", "idle update tcp"):
        assert path in done.stdout
