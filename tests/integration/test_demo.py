"""``python -m pygnetic.demo``, as a real process: what it shows, and each fact once."""

import os
import subprocess
import sys

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def demo(*args):
    command = [sys.executable, "-m", "pygnetic.demo", "--adapter", "socket", *args]
    done = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, done.stderr


def test_the_demo_shows_what_went_over_the_wire():
    out, err = demo()
    assert err == ""  # nothing went wrong, so pygnetic had nothing to warn about
    assert "a registered chat_msg:    19 bytes" in out
    assert out.count("server got  chat_msg(") == out.count("client got  chat_msg(") == 3
    assert "client got  chat_msg(player='Server', msg='GG')" in out
    assert "Server on 127.0.0.1:" in out and "connected to 127.0.0.1:" in out
    assert out.endswith("Done.\n")


def test_the_verbose_demo_leaves_the_connection_to_pygnetics_log():
    out, err = demo("--verbose")
    for fact in ("listening on 127.0.0.1:", "connected to 127.0.0.1:", "demo over"):
        assert fact in err, err  # in the log, in the words a game's log uses
        assert fact not in out, out  # and not again
    assert out.count("client got  chat_msg(") == 3
