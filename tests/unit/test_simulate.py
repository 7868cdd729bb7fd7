"""The simulator's conditions and schedule, without any transport."""

import itertools
import math

import pytest

from pygnetic.protocol import Delivery
from pygnetic.simulate import (
    MAX_QUEUE_DELAY,
    REORDER_HOLD,
    Conditions,
    Lane,
    Simulator,
    retransmission_timeout,
)

RELIABLE, SEQUENCED, UNRELIABLE = (
    Delivery.RELIABLE,
    Delivery.UNRELIABLE_SEQUENCED,
    Delivery.UNRELIABLE,
)


# -- conditions as text --------------------------------------------------------


def test_the_issues_example_parses_to_seconds_and_fractions():
    conditions = Conditions.parse("latency=120ms jitter=30ms loss=5% duplicate=1% reorder=2%")
    assert conditions == Conditions(
        latency=0.12, jitter=0.03, loss=0.05, duplicate=0.01, reorder=0.02
    )
    assert str(conditions) == "latency=120ms jitter=30ms loss=5% duplicate=1% reorder=2%"
    assert Conditions.parse(str(conditions)) == conditions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("latency=0.15s", Conditions(latency=0.15)),
        ("loss=0.05,seed=7", Conditions(loss=0.05, seed=7)),
        ("bandwidth=256kbit", Conditions(bandwidth=32_000)),
        ("bandwidth=2mbit", Conditions(bandwidth=250_000)),
        ("bandwidth=64KB/s", Conditions(bandwidth=64_000)),
        ("bandwidth=1MB/s", Conditions(bandwidth=1_000_000)),
        ("  latency=5ms ,  jitter=1ms ", Conditions(latency=0.005, jitter=0.001)),
        ("", Conditions()),
    ],
)
def test_units_and_separators(text, expected):
    assert Conditions.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("latncy=120ms", "did you mean latency?"),
        ("latency=120", "give a time with its unit, such as 120ms"),
        ("loss=150%", "loss must be a share from 0 to 1"),
        ("loss=lots", "give a percentage such as 5% or a fraction such as 0.05"),
        ("latency", "is not name=value"),
        ("latency=1ms latency=2ms", "latency is given twice"),
        ("bandwidth=fast", "give a rate such as 256kbit"),
        ("bandwidth=5parsecs", "units: bit, kbit"),
        ("seed=x", "seed='x': give an integer"),
    ],
)
def test_bad_text_says_what_is_wrong_and_what_is_accepted(text, says):
    with pytest.raises(ValueError) as caught:
        Conditions.parse(text)
    assert says in str(caught.value)


@pytest.mark.parametrize(
    "options",
    [{"latency": -1}, {"jitter": math.nan}, {"loss": True}, {"reorder": 2}, {"seed": 1.5},
     {"bandwidth": 0}],
)  # fmt: skip
def test_conditions_are_checked_when_built(options):
    with pytest.raises(ValueError):
        Conditions(**options)


def test_active_is_false_only_when_nothing_changes():
    assert not Conditions().active
    assert not Conditions(seed=3).active
    assert str(Conditions()) == "no change"
    assert Conditions(bandwidth=1000).active
    assert Conditions(reorder=0.01).active


# -- the schedule --------------------------------------------------------------


def send(simulator, lane, count, delivery, *, channel=0, every=0.01, size=20, start=0.0):
    """Schedule ``count`` packets, one each ``every`` seconds; returns them as (number, due)."""
    for index in range(count):
        simulator.schedule(lane, "link", bytes(size), channel, delivery, start + index * every)
    return [(entry[6], entry[0]) for entry in simulator.take_all()]


def share(count, total):
    return count / total


def test_unreliable_statistics_match_the_conditions():
    conditions = Conditions(latency=0.1, jitter=0.02, loss=0.05, duplicate=0.01, reorder=0.02,
                            seed=11)  # fmt: skip
    simulator = Simulator(conditions)
    total = 20_000
    send(simulator, Lane(stream=False), total, UNRELIABLE)
    stats = simulator.stats
    # Binomial spread at n=20000 is at most 0.0016 for these shares: 4 of it is the tolerance.
    assert stats.sent == total
    assert share(stats.dropped, total) == pytest.approx(0.05, abs=0.0065)
    kept = total - stats.dropped
    assert share(stats.duplicated, kept) == pytest.approx(0.01, abs=0.003)
    assert share(stats.reordered, kept) == pytest.approx(0.02, abs=0.004)
    assert stats.delayed == kept
    assert 0.1 - 0.02 <= stats.mean_delay <= 0.1 + 0.02 + REORDER_HOLD
    assert stats.retransmitted == stats.stale == stats.overflowed == 0


def test_the_same_seed_makes_the_same_choices():
    conditions = Conditions(latency=0.05, jitter=0.01, loss=0.1, reorder=0.1, seed=5)
    runs = [send(Simulator(conditions), Lane(stream=False), 500, SEQUENCED) for _ in range(2)]
    assert runs[0] == runs[1]
    other = send(Simulator(Conditions(latency=0.05, jitter=0.01, loss=0.1, reorder=0.1, seed=6)),
                 Lane(stream=False), 500, SEQUENCED)  # fmt: skip
    assert other != runs[0]


def test_jitter_varies_the_delay_but_keeps_the_order():
    simulator = Simulator(Conditions(latency=0.1, jitter=0.04, seed=1))
    scheduled = send(simulator, Lane(stream=False), 2000, UNRELIABLE, every=0.001)
    dues = [due for _, due in scheduled]
    assert dues == sorted(dues)
    delays = [due - index * 0.001 for index, (_, due) in enumerate(scheduled)]
    assert min(delays) >= 0.1 - 0.04
    assert max(delays) - min(delays) > 0.04  # it does vary


def test_a_reordered_packet_is_overtaken_by_later_ones():
    simulator = Simulator(Conditions(latency=0.02, reorder=0.2, seed=2))
    lane = Lane(stream=False)
    for index in range(200):
        simulator.schedule(lane, "link", bytes([index]), 0, UNRELIABLE, index * 0.01)
    arrived = [entry[3][0] for entry in simulator.take_all()]
    assert sorted(arrived) == list(range(200))
    overtaken = sum(1 for a, b in itertools.pairwise(arrived) if a > b)
    assert overtaken >= simulator.stats.reordered * 0.8 > 0


def test_reliable_packets_are_never_lost_but_pay_retransmissions_in_order():
    conditions = Conditions(latency=0.05, jitter=0.01, loss=0.3, reorder=0.5, duplicate=0.5,
                            seed=3)  # fmt: skip
    simulator = Simulator(conditions)
    lane = Lane(stream=False)
    total = 3000
    dues = []
    for index in range(total):
        simulator.schedule(lane, "link", bytes(4), 0, RELIABLE, index * 0.01)
        dues.append(lane.ordered_due[0])
    stats = simulator.stats
    assert stats.dropped == stats.duplicated == stats.reordered == 0
    assert dues == sorted(dues)
    assert len(simulator.take_all()) == total
    # Each send is lost with p=0.3, then again with p=0.3...: 0.3/0.7 losses per packet.
    assert share(stats.retransmitted, total) == pytest.approx(0.3 / 0.7, rel=0.08)
    timeout = retransmission_timeout(conditions, stream=False)
    assert timeout == pytest.approx(2 * 0.05 + 4 * 0.01)
    assert max(due - index * 0.01 for index, due in enumerate(dues)) >= 0.05 + timeout


def test_reliable_order_is_per_channel_over_enet_and_whole_over_a_stream():
    conditions = Conditions(latency=0.01, loss=0.5, seed=4)
    for stream in (False, True):
        simulator = Simulator(conditions)
        lane = Lane(stream=stream)
        for index in range(400):
            simulator.schedule(
                lane, "link", bytes([index % 256]), index % 2, RELIABLE, index * 0.001
            )
        entries = simulator.take_all()
        by_channel = {0: [], 1: []}
        for entry in entries:
            by_channel[entry[4]].append(entry[1])  # the order they were sent in
        assert all(order == sorted(order) for order in by_channel.values())
        whole = [entry[1] for entry in entries]
        assert (whole == sorted(whole)) is stream


def test_over_a_stream_every_delivery_is_reliable():
    simulator = Simulator(Conditions(latency=0.01, loss=0.2, duplicate=0.2, reorder=0.2, seed=5))
    scheduled = send(simulator, Lane(stream=True), 1000, UNRELIABLE)
    assert len(scheduled) == 1000
    assert simulator.stats.dropped == simulator.stats.duplicated == 0
    assert simulator.stats.retransmitted > 0
    assert retransmission_timeout(Conditions(), stream=True) == 0.2  # Linux TCP's minimum


def test_sequenced_packets_are_numbered_per_channel_and_stale_ones_refused():
    simulator = Simulator(Conditions(latency=0.01))
    lane = Lane(stream=False)
    for channel in (0, 1, 0):
        simulator.schedule(lane, "link", b"x", channel, SEQUENCED, 0.0)
    assert [entry[6] for entry in simulator.take_all()] == [1, 1, 2]
    assert lane.fresh(0, 2) and not lane.fresh(0, 1) and not lane.fresh(0, 2)
    assert lane.fresh(1, 1)


def test_a_bandwidth_cap_spaces_packets_and_drops_unreliable_ones_that_wait_too_long():
    simulator = Simulator(Conditions(bandwidth=10_000))
    lane = Lane(stream=False)
    for _ in range(20):  # 20 kB at once: two seconds of the cap
        simulator.schedule(lane, "link", bytes(1000), 0, RELIABLE, 0.0)
    dues = [entry[0] for entry in simulator.take_all()]
    assert dues == pytest.approx([0.1 * (index + 1) for index in range(20)])
    lane = Lane(stream=False)
    for _ in range(20):
        simulator.schedule(lane, "link", bytes(1000), 0, UNRELIABLE, 0.0)
    kept = simulator.take_all()
    assert len(kept) == int(MAX_QUEUE_DELAY / 0.1) + 1
    assert simulator.stats.overflowed == 20 - len(kept)


def test_due_hands_back_only_what_is_due_oldest_first():
    simulator = Simulator(Conditions(latency=0.1))
    lane = Lane(stream=False)
    simulator.schedule(lane, "a", b"1", 0, RELIABLE, 0.0)
    simulator.schedule(lane, "b", b"2", 0, RELIABLE, 0.05)
    assert simulator.next_due == pytest.approx(0.1)
    assert simulator.due(0.0999) == []
    assert [entry[2] for entry in simulator.due(0.2)] == ["a", "b"]
    assert simulator.next_due is None


def test_over_a_transport_that_drops_duplicates_a_copy_only_costs_bandwidth():
    conditions = Conditions(duplicate=1.0, bandwidth=1000)
    proxied, hosted = Simulator(conditions), Simulator(conditions)
    proxied.schedule(Lane(stream=False), "link", bytes(100), 0, UNRELIABLE, 0.0)
    lane = Lane(stream=False, transport_dedupes=True)
    hosted.schedule(lane, "link", bytes(100), 0, UNRELIABLE, 0.0)
    assert len(proxied.take_all()) == 2  # a proxy's datagram really arrives twice
    assert len(hosted.take_all()) == 1
    assert hosted.stats.duplicated == 1
    assert lane.free_at == pytest.approx(0.2)  # both copies crossed the capped link
