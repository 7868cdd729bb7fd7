"""Every answered write survives the state server being killed with SIGKILL mid-stream."""

import os
import signal
import subprocess
import sys

import pytest

from pygnetic.state import DistributedState, SQLiteStore, StateError, hash_value
from pygnetic.state._model import APP, space_key

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


def _start(db):
    process = subprocess.Popen(
        [sys.executable, "-m", "pygnetic.state", "--db", str(db), "--port", "0",
         "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    line = process.stdout.readline()
    assert line.startswith("listening on "), line
    return process, line.split()[-1]


def test_answered_writes_survive_kill_9(tmp_path):
    db = tmp_path / "state.db"
    process, address = _start(db)
    try:
        with DistributedState(address) as admin:
            admin.create_account("admin@example.com", "admin-password")
            admin.login("admin@example.com", "admin-password")
            admin.new_app("admin+saves")
        state = DistributedState(address, timeout=5)
        state.join("admin+saves")
        answered = {}
        requests = {}
        next_key = 0
        # Keep 32 writes in flight; kill the server once 300 were answered.
        while len(answered) < 300:
            while len(requests) < 32:
                key = f"save{next_key}"
                requests[key] = state.set_nowait(key, {"n": next_key, "pad": "x" * 200})
                next_key += 1
            state.poll(1)
            for key, request in list(requests.items()):
                if request.done:
                    answered[key] = request.result()
                    del requests[key]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        for _ in range(200):
            state.poll(5)
        assert all(r.done for r in requests.values())
        assert all(isinstance(r.error, StateError) for r in requests.values())
        state.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    store = SQLiteStore(db)
    try:
        for key, digest in answered.items():
            stored = store.get(space_key(APP, "admin+saves"), key)
            assert stored is not None, f"{key} was answered, then lost"
            assert stored.hash == digest == hash_value({"n": int(key[4:]), "pad": "x" * 200})
    finally:
        store.close()
    # And the service starts again on the file it was killed over.
    process, address = _start(db)
    try:
        with DistributedState(address) as state:
            state.join("admin+saves")
            assert state["save0"]["n"] == 0
    finally:
        process.terminate()
        process.wait(10)
