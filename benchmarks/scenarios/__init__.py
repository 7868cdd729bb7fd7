"""The scenarios; each module has NAME, TITLE, METRICS, params(quick) and run(impl, params).

``run`` executes in the parent and starts the worker processes, whose bodies
(``server`` and ``client`` functions) live in the same module. A module with
``LEAD_TARGET = False`` is not checked for pygnetic being ahead of PodSixNet.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..common import now

# How often a busy worker looks at its pipe to the parent, in seconds.
CHECK_INTERVAL = 0.05


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool
    #: Target for the ratio pygnetic / raw of the same transport (None: no target).
    target: float | None = None
    #: Shown in the chart and compared with PodSixNet.
    primary: bool = False
    #: Figures for which a ratio to raw makes sense.
    ratio: bool = True
    digits: int = 1


def serve_until_stop(control, pump, step_ms: int = 10) -> None:
    """Pump until the parent says stop; look at the pipe only every CHECK_INTERVAL."""
    next_check = 0.0
    while True:
        pump(step_ms)
        if now() >= next_check:
            if control.poll() == "stop":
                return
            next_check = now() + CHECK_INTERVAL


def all_scenarios():
    from . import connect, fanout, many, payload, roundtrip, throughput

    return [throughput, roundtrip, fanout, payload, many, connect]
