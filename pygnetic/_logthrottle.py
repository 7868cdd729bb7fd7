"""Log lines that a remote peer can cause, at a bounded rate.

A hostile peer that reconnects thousands of times a second must not turn
each attempt into a log line: the log would grow as fast as the attack and
bury the lines that matter. :class:`LogThrottle` lets a few lines of each
cause through per interval and then says how many it held back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

__all__ = ["LogThrottle"]

#: Lines of one cause logged in each interval before the rest are only counted.
BURST = 5
#: Seconds after which a cause may log ``BURST`` lines again.
INTERVAL = 10.0


class LogThrottle:
    """Logs at most ``burst`` lines per cause in each ``interval`` seconds.

    A cause is a short constant chosen by pygnetic's code (``'refused'``,
    ``'invalid message'``), never text from the network, so the table of
    causes stays small. The first line of a cause after a quiet interval
    also reports how many were held back during the last one.
    """

    __slots__ = ("_burst", "_clock", "_interval", "_logger", "_windows")

    def __init__(
        self,
        logger: logging.Logger,
        *,
        burst: int = BURST,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._burst = burst
        self._interval = interval
        self._clock = clock
        # cause -> [start of the interval, lines logged in it, lines held back]
        self._windows: dict[str, list[Any]] = {}

    def log(
        self,
        level: int,
        cause: str,
        msg: str,
        *args: Any,
        burst: int | None = None,
        exc_info: bool = False,
    ) -> None:
        """Log ``msg % args`` at ``level`` unless ``cause`` used up its lines for now.

        ``burst`` overrides the throttle's lines per interval for this cause;
        ``exc_info`` adds the exception being handled, as :mod:`logging` does.
        """
        if not self._logger.isEnabledFor(level):
            return
        now = self._clock()
        window = self._windows.get(cause)
        if window is None or now - window[0] >= self._interval:
            held = window[2] if window is not None else 0
            window = self._windows[cause] = [now, 0, 0]
            if held:
                msg += " (and %d similar line(s) held back in %g s)"
                args = (*args, held, self._interval)
        if window[1] < (self._burst if burst is None else burst):
            window[1] += 1
            self._logger.log(level, msg, *args, exc_info=exc_info)
        else:
            window[2] += 1

    def warning(self, cause: str, msg: str, *args: Any) -> None:
        """:meth:`log` at ``WARNING``."""
        self.log(logging.WARNING, cause, msg, *args)

    def info(self, cause: str, msg: str, *args: Any, burst: int | None = None) -> None:
        """:meth:`log` at ``INFO``."""
        self.log(logging.INFO, cause, msg, *args, burst=burst)
