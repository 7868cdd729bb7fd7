"""Take the screenshots of the pygame examples for the docs, with no display needed.

    python docs/make_screenshots.py

For each example a host and a guest run their self-test bots on 127.0.0.1 with
``SDL_VIDEODRIVER=dummy``; the guest saves its window (``pygame.image.save``)
just before it exits, into ``docs/_static/<example>.png``. Nothing is
downloaded: the examples draw with pygame's built-in font.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "docs" / "_static"
GUEST_FRAMES = {"chat": 240, "arena": 100}  # how long the guest plays before the shot
ENV = {
    **os.environ,
    "SDL_VIDEODRIVER": "dummy",
    "SDL_AUDIODRIVER": "dummy",
    "PYGAME_HIDE_SUPPORT_PROMPT": "1",
    "PYTHONUNBUFFERED": "1",
}


def shoot(name: str, frames: int) -> Path:
    script = str(ROOT / "examples" / f"{name}.py")
    target = STATIC / f"{name}.png"
    local = ["--host", "127.0.0.1"]
    lan = []  # the chat's guest finds its host by LAN discovery, as a player would
    if name == "chat":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            lan = ["--lan-port", str(probe.getsockname()[1])]
    host = subprocess.Popen(
        [sys.executable, script, "--host-game", *local, "--port", "0", "--selftest", "60"]
        + (lan and [*lan, "--lan-target", "127.0.0.1"]),
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert host.stderr is not None
        for line in host.stderr:  # pygnetic's log says which free port the host got
            match = re.search(r"listening on \S*:(\d+)", line)
            if match:
                break
        else:
            raise SystemExit(f"{name}: the host did not start (exit {host.wait()})")
        where = lan or [*local, "--port", match.group(1)]
        guest = [script, "--join", *where, "--selftest", str(frames)]
        subprocess.run(
            [sys.executable, *guest, "--screenshot", str(target)], env=ENV, check=True, timeout=60
        )
        if host.wait(60) != 0:
            raise SystemExit(f"{name}: the host's self-test failed")
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
    return target


def main() -> int:
    STATIC.mkdir(parents=True, exist_ok=True)
    for name, frames in GUEST_FRAMES.items():
        print(f"wrote {shoot(name, frames).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
