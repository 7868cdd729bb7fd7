"""The world of ``python -m benchmarks.replication``: objects, some of which move.

Standard library only: the PyGaSe row imports it in another interpreter.
Every implementation's server runs this same world, so the game work is the
same in each and only the replication differs.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

#: The fields of an object, in the order the lists hold them.
FIELDS = ("x", "y", "vx", "vy")


@dataclass(frozen=True)
class Config:
    """The world's size and pace; the same for every row of a run."""

    objects: int = 500
    changing: float = 0.1  # the fraction of the objects that move, every tick
    hz: float = 30.0
    seed: int = 14

    @property
    def moving(self) -> int:
        return round(self.objects * self.changing)

    def as_dict(self) -> dict:
        return {
            "objects": self.objects,
            "changing": self.changing,
            "hz": self.hz,
            "seed": self.seed,
        }


class World:
    """``objects`` objects of four floats; the same ``moving`` of them change every tick.

    Which objects move is drawn once, by ``random.Random(seed)``; each tick
    each of them gets a new velocity (a small random push) and moves by it, so
    all four of its fields change. A tick's changes are new lists: whatever
    keeps a reference to an older one (an update cache) keeps its values.
    """

    def __init__(self, config: Config) -> None:
        self._rng = rng = random.Random(config.seed)
        self.dt = 1.0 / config.hz
        self.objects: dict[int, list[float]] = {
            i: [rng.uniform(0, 1000), rng.uniform(0, 1000), rng.uniform(-50, 50),
                rng.uniform(-50, 50)]
            for i in range(config.objects)
        }  # fmt: skip
        self.moving = sorted(rng.sample(range(config.objects), config.moving))

    def step(self) -> dict[int, list[float]]:
        """Advance one tick; return the objects that changed, ``{id: [x, y, vx, vy]}``."""
        push = self._rng.uniform
        dt = self.dt
        objects = self.objects
        changes = {}
        for i in self.moving:
            x, y, vx, vy = objects[i]
            vx += push(-5.0, 5.0)
            vy += push(-5.0, 5.0)
            objects[i] = changes[i] = [x + vx * dt, y + vy * dt, vx, vy]
        return changes

    def snapshot(self) -> dict[int, list[float]]:
        """The whole world as ``{id: [x, y, vx, vy]}``, a copy of its dict (not its lists)."""
        return dict(self.objects)


def clients_ready(clients: list, objects: int) -> int:
    """How many of ``clients`` (PyGaSe's API) hold all ``objects`` of the world in their state."""
    ready = 0
    for client in clients:
        with client.access_game_state() as state:
            ready += len(getattr(state, "objects", ())) == objects
    return ready


def note_arrival(arrivals: list[list[list]], last: list[int], i: int, client) -> bool:
    """Note when client ``i`` (PyGaSe's API) first has a new time order; whether it did.

    ``arrivals[i]`` gets ``[time_order, tick_time, arrived]``; ``last[i]`` is
    the time order noted last.
    """
    with client.access_game_state() as state:
        time_order = state.time_order
        if time_order == last[i]:
            return False
        last[i] = time_order
        tick_time = getattr(state, "tick_time", None)
        arrivals[i].append([int(time_order), tick_time, time.monotonic()])
        return True
