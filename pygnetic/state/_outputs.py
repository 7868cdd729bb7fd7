"""What the state server sends once a store batch is committed: its outputs, in order.

An operation does its store work inside the batch and returns an *output*,
a function that sends its answer (and tells watchers and waiters) when
called; the server calls the outputs of a batch only after its commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Output", "nothing", "then"]

Output = Callable[[], Any]


def then(*outputs: Output | None) -> Output:
    """Return one output that sends ``outputs`` in turn (None ones are skipped)."""
    kept = [output for output in outputs if output is not None]
    if len(kept) == 1:
        return kept[0]

    def send() -> None:
        for output in kept:
            output()

    return send


def nothing() -> None:
    """The output of a request answered later (a waiting fetch, a held login)."""
