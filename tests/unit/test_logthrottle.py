"""Lines a peer can cause are logged at a bounded rate, and what was held back is counted."""

import logging

from pygnetic._logthrottle import LogThrottle


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_flood_of_one_cause_logs_a_burst_then_counts(caplog):
    clock = Clock()
    throttle = LogThrottle(logging.getLogger("pygnetic.test"), burst=3, interval=10, clock=clock)
    with caplog.at_level(logging.WARNING, "pygnetic.test"):
        for attempt in range(1000):
            throttle.warning("refused", "refused %s", attempt)
        assert [r.getMessage() for r in caplog.records] == ["refused 0", "refused 1", "refused 2"]
        clock.now = 10.0
        throttle.warning("refused", "refused %s", "later")
    assert caplog.records[-1].getMessage() == (
        "refused later (and 997 similar line(s) held back in 10 s)"
    )


def test_causes_are_throttled_apart(caplog):
    throttle = LogThrottle(logging.getLogger("pygnetic.test"), burst=1, clock=Clock())
    with caplog.at_level(logging.INFO, "pygnetic.test"):
        for _ in range(5):
            throttle.info("timeout", "timed out")
            throttle.warning("invalid", "invalid")
    assert [r.getMessage() for r in caplog.records] == ["timed out", "invalid"]


def test_a_disabled_level_costs_no_window(caplog):
    throttle = LogThrottle(logging.getLogger("pygnetic.test"), burst=1, clock=Clock())
    with caplog.at_level(logging.WARNING, "pygnetic.test"):
        throttle.info("cause", "not logged")
        throttle.warning("cause", "logged")
    assert [r.getMessage() for r in caplog.records] == ["logged"]


def test_a_cause_may_have_a_burst_of_its_own(caplog):
    throttle = LogThrottle(logging.getLogger("pygnetic.test"), burst=1, clock=Clock())
    with caplog.at_level(logging.INFO, "pygnetic.test"):
        for number in range(10):
            throttle.info("accepted", "accepted %d", number, burst=3)
    assert [r.getMessage() for r in caplog.records] == ["accepted 0", "accepted 1", "accepted 2"]
