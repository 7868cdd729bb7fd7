"""The cost of a pygame ``Vector2`` as a message field, against the same data by hand.

``python -m benchmarks.wire_types`` times, in one process and without any
network, packing and unpacking ``move('Tom', Vector2(0.1, -2.25))`` with
pygnetic's msgpack serializer (the Vector2 is an 18-byte extension) against
the floor: the same message packed by hand as msgpack of
``[type_id, 'Tom', [x, y]]`` with a reused Packer, and unpacked with
``msgpack.unpackb``, the Vector2 rebuilt by hand. Unpacking is timed twice:
where the program has imported pygame (a ``pygame.Vector2`` arrives) and
where it has not (a dedicated server: pygnetic's stand-in arrives, and by
hand the pair stays a list).

Where PodSixNet is installed, its serializer (rencode, a dict with an
``'action'`` key, as ``Channel.Send`` frames it) is the third column. rencode
cannot pack a Vector2 at all, which is reported; its column packs ``[x, y]``
by hand, as the floor does.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import importlib.util
import os
import sys
from importlib import metadata

import msgpack

from pygnetic.message import MessageFactory
from pygnetic.wire_types import Vector2

from .micro import _best

N = 100_000
X, Y = 0.1, -2.25
WHO = "Tom"
PODSIXNET_END = b"\0---\0"  # PodSixNet's Channel ends every message with it


def _pygame():
    """pygame, imported quietly, or None where it is not installed."""
    if importlib.util.find_spec("pygame") is None:
        return None
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    return pygame


def _rencode():
    try:
        from PodSixNet import rencode
    except ImportError:
        return None
    return rencode


@contextlib.contextmanager
def _without_pygame():
    """As in a program that never imported pygame."""
    saved = sys.modules.get("pygame")
    sys.modules["pygame"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if saved is None:
            del sys.modules["pygame"]
        else:
            sys.modules["pygame"] = saved


def _repeat(n: int, body):
    def run():
        for _ in range(n):
            body()

    return run


def cases(n: int, pygame, rencode):
    """Rows ``(label, pygnetic, by hand, PodSixNet or None)`` of functions timing ``n`` each.

    Returns the rows, and the packed sizes by pygnetic and by hand.
    """
    factory = MessageFactory("msgpack")
    move = factory.register("move", ("who", "where"))
    type_id = factory.get_type_id(move)
    vector = pygame.Vector2(X, Y) if pygame is not None else Vector2(X, Y)
    pack, raw_pack = factory.packer(), msgpack.Packer().pack
    data = factory.pack(move(WHO, vector))
    raw_data = raw_pack((type_id, WHO, [X, Y]))
    unpack, unpackb = factory.unpack, msgpack.unpackb
    Move = collections.namedtuple("Move", ("who", "where"))
    podsixnet = _PodSixNet(rencode, n) if rencode is not None else None

    def by_hand_to_pygame():
        raw = unpackb(raw_data)
        return Move(raw[1], pygame.Vector2(raw[2]))

    def without_pygame(run):
        def timed():
            with _without_pygame():
                run()

        return timed

    rows = [
        (
            f"pack {type(vector).__name__}",
            _repeat(n, lambda: pack((type_id, WHO, vector))),
            _repeat(n, lambda: raw_pack((type_id, WHO, [vector.x, vector.y]))),
            podsixnet and podsixnet.pack(vector),
        )
    ]
    if pygame is not None:
        rows.append(
            (
                "unpack to pygame",
                _repeat(n, lambda: unpack(data)),
                _repeat(n, by_hand_to_pygame),
                podsixnet and podsixnet.unpack(pygame.Vector2),
            )
        )
    rows.append(
        (
            "unpack, no pygame",
            without_pygame(_repeat(n, lambda: unpack(data))),
            _repeat(n, lambda: Move(*unpackb(raw_data)[1:])),
            podsixnet and podsixnet.unpack(lambda where: where),
        )
    )
    return rows, len(data), len(raw_data)


def _podsixnet_message(where):
    return {"action": "move", "who": WHO, "where": where}


class _PodSixNet:
    """PodSixNet's serializer as its Channel uses it: rencode, framed with an end marker."""

    def __init__(self, rencode, n: int) -> None:
        self.dumps, self.loads, self.n = rencode.dumps, rencode.loads, n
        self.framed = rencode.dumps(_podsixnet_message([X, Y])) + PODSIXNET_END

    def pack(self, vector):
        dumps = self.dumps
        return _repeat(
            self.n, lambda: dumps(_podsixnet_message([vector.x, vector.y])) + PODSIXNET_END
        )

    def unpack(self, rebuild):
        loads, framed, end = self.loads, self.framed, -len(PODSIXNET_END)
        return _repeat(self.n, lambda: rebuild(loads(framed[:end])["where"]))


def podsixnet_note(rencode, pygame) -> str:
    """What PodSixNet makes of a Vector2, and of the pair by hand."""
    if rencode is None:
        return "PodSixNet is not installed: its column is left out."
    version = metadata.version("PodSixNet")
    vector = pygame.Vector2(X, Y) if pygame is not None else Vector2(X, Y)
    try:
        rencode.dumps(_podsixnet_message(vector))
        refused = "rencode packed a Vector2"
    except Exception as exc:  # what it raises is the result
        refused = f"rencode cannot pack a Vector2 ({type(exc).__name__}: {exc})"
    framed = rencode.dumps(_podsixnet_message([X, Y])) + PODSIXNET_END
    arrived = rencode.loads(framed[: -len(PODSIXNET_END)])["where"]
    return (
        f"PodSixNet {version}: {refused}; its column packs [x, y] by hand, "
        f"{len(framed)} bytes, and {X} arrives as {arrived[0]!r}."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.wire_types", description=__doc__)
    parser.add_argument("-r", "--repeats", type=int, default=15, help="best of (default 15)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke mode: 2,000 messages, one repeat"
    )
    args = parser.parse_args(argv)
    n, repeats = (2_000, 1) if args.quick else (N, args.repeats)
    pygame, rencode = _pygame(), _rencode()
    rows, size, raw_size = cases(n, pygame, rencode)
    print(f"CPU ns per message, best of {repeats} × {n:,} (no network)\n")
    print(
        f"move({WHO!r}, Vector2({X}, {Y})): pygnetic {size} bytes, "
        f"by hand (msgpack of [x, y]) {raw_size} bytes"
    )
    if pygame is None:
        print("pygame is not installed: pygnetic's stand-in Vector2 is sent.")
    head = f"{'path':<20} {'pygnetic':>9} {'by hand':>9} {'ratio':>7}"
    print(f"\n{head} {'PodSixNet':>10} {'ratio':>7}" if rencode is not None else f"\n{head}")
    for label, mine, by_hand, podsixnet in rows:
        functions = [mine, by_hand] + ([podsixnet] if podsixnet is not None else [])
        times = _best(functions, repeats, n)
        line = f"{label:<20} {times[0]:9.0f} {times[1]:9.0f} {times[0] / times[1]:6.2f}×"
        if podsixnet is not None:
            line += f" {times[2]:10.0f} {times[0] / times[2]:6.2f}×"
        print(line)
    print()
    print(podsixnet_note(rencode, pygame))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
