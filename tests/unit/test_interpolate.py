"""The interpolator as a game client uses it: push states, sample them a moment late."""

import enum
import math
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pygnetic.interpolate import Interpolator, lerp
from pygnetic.testing import ManualClock


def pair(first, second, delay=0.0):
    """An interpolator holding ``first`` at time 1 and ``second`` at time 2."""
    interpolator = Interpolator(delay)
    interpolator.push(first, 1.0)
    interpolator.push(second, 2.0)
    return interpolator


# -- blending between two snapshots --------------------------------------------


def test_halfway_between_two_snapshots_gives_the_midpoints():
    interpolator = pair({"x": 0.0, "y": 10.0}, {"x": 4.0, "y": 20.0}, delay=0.1)
    assert interpolator.sample(now=1.6) == {"x": 2.0, "y": 15.0}


def test_ints_interpolate_and_an_unchanged_int_stays_an_int():
    sample = pair({"x": 0, "score": 3}, {"x": 10, "score": 3}).sample(now=1.25)
    assert sample == {"x": 2.5, "score": 3}
    assert type(sample["score"]) is int


def test_nested_dicts_interpolate_key_by_key():
    first = {"players": {1: {"x": 3.0, "y": 4.0, "name": "Tom"}}, "round": 1}
    second = {"players": {1: {"x": 5.0, "y": 8.0, "name": "Tom"}}, "round": 1}
    assert pair(first, second).sample(now=1.5) == {
        "players": {1: {"x": 4.0, "y": 6.0, "name": "Tom"}},
        "round": 1,
    }


def test_strings_step_at_the_newer_snapshots_time():
    interpolator = pair({"name": "Tom"}, {"name": "Ann"})
    assert interpolator.sample(now=1.99)["name"] == "Tom"
    assert interpolator.sample(now=2.0)["name"] == "Ann"


class Team(enum.IntEnum):
    RED = 0
    BLUE = 2


def test_bools_enums_and_none_step_instead_of_interpolating():
    first = {"alive": True, "team": Team.RED, "target": None}
    second = {"alive": False, "team": Team.BLUE, "target": 7}
    interpolator = pair(first, second)
    assert interpolator.sample(now=1.5) == first
    assert interpolator.sample(now=2.0) == second


def test_values_of_different_types_step():
    assert pair({"v": 1.0}, {"v": "far"}).sample(now=1.5) == {"v": 1.0}
    assert pair({"v": (1.0, 2.0)}, {"v": [3.0, 4.0]}).sample(now=1.5) == {"v": (1.0, 2.0)}


def test_tuples_and_lists_of_numbers_interpolate_element_wise():
    first = {"position": (0.0, 10.0), "path": [0, 0, 0], "short": (0.0,), "mixed": (0.0, "a")}
    second = {"position": (2.0, 20.0), "path": [4, 8, 0], "short": (1.0, 1.0), "mixed": (1.0, "b")}
    sample = pair(first, second).sample(now=1.5)
    assert sample["position"] == (1.0, 15.0)
    assert sample["path"] == [2.0, 4.0, 0]
    assert sample["short"] == (0.0,)  # lengths differ: a step
    assert sample["mixed"] == (0.0, "a")  # not all numbers: a step


def test_pygame_vectors_and_colors_use_their_lerp():
    pygame = pytest.importorskip("pygame")
    first = {"position": pygame.Vector2(0, 10), "tint": pygame.Color(0, 0, 0)}
    second = {"position": pygame.Vector2(4, 20), "tint": pygame.Color(200, 100, 50)}
    sample = pair(first, second).sample(now=1.5)
    assert sample["position"] == pygame.Vector2(2, 15)
    assert isinstance(sample["position"], pygame.Vector2)
    assert sample["tint"] == pygame.Color(100, 50, 25)


def test_a_key_follows_the_newer_snapshot():
    interpolator = pair({"gone": 1.0, "kept": 0.0}, {"kept": 2.0, "new": {"x": 5.0}})
    assert interpolator.sample(now=1.5) == {"kept": 1.0, "new": {"x": 5.0}}


# -- outside the snapshots -----------------------------------------------------


def test_an_empty_interpolator_samples_to_an_empty_dict():
    interpolator = Interpolator()
    assert interpolator.sample(now=5.0) == {}
    assert interpolator.latest is None
    assert len(interpolator) == 0


def test_before_the_first_snapshot_it_is_the_first_and_after_the_last_the_last():
    interpolator = pair({"x": 0.0}, {"x": 10.0}, delay=0.5)
    assert interpolator.sample(now=1.2) == {"x": 0.0}  # looks at 0.7
    assert interpolator.sample(now=1.5) == {"x": 0.0}  # exactly the first
    assert interpolator.sample(now=9.0) == {"x": 10.0}  # no extrapolation


def test_one_snapshot_is_the_answer_at_any_time():
    interpolator = Interpolator()
    interpolator.push({"x": 1.0}, 5.0)
    assert interpolator.sample(now=0.0) == interpolator.sample(now=50.0) == {"x": 1.0}


# -- what push keeps -----------------------------------------------------------


def test_an_out_of_order_snapshot_is_dropped():
    interpolator = pair({"x": 0.0}, {"x": 10.0})
    interpolator.push({"x": 99.0}, 1.5)
    assert len(interpolator) == 2
    assert interpolator.sample(now=1.5) == {"x": 5.0}
    assert interpolator.latest == {"x": 10.0}


def test_a_snapshot_at_the_newest_time_replaces_it():
    interpolator = pair({"x": 0.0}, {"x": 10.0})
    interpolator.push({"x": 20.0}, 2.0)
    assert len(interpolator) == 2
    assert interpolator.sample(now=1.5) == {"x": 10.0}


def test_changing_the_pushed_dict_afterwards_changes_no_snapshot():
    state = {"players": {1: {"x": 1.0, "trail": [1.0, 2.0]}}}
    interpolator = Interpolator(0.0)
    interpolator.push(state, 1.0)
    state["players"][1]["x"] = 50.0
    state["players"][1]["trail"].append(3.0)
    state["players"][2] = {"x": 0.0}
    assert interpolator.sample(now=1.0) == {"players": {1: {"x": 1.0, "trail": [1.0, 2.0]}}}


def test_changing_a_sample_or_latest_changes_no_snapshot():
    first = {"p": {"x": 0.0}, "n": [1]}
    second = {"p": {"x": 2.0}, "n": [1], "new": {"x": 5.0}}
    interpolator = pair(first, second)
    interpolator.sample(now=1.5)["p"]["x"] = 99.0
    interpolator.sample(now=1.5)["n"].append(2)
    interpolator.sample(now=1.5)["new"]["x"] = 99.0
    interpolator.latest["p"]["x"] = 99.0
    assert interpolator.sample(now=1.5) == {"p": {"x": 1.0}, "n": [1], "new": {"x": 5.0}}
    assert interpolator.latest == second


def test_at_most_max_snapshots_are_kept():
    interpolator = Interpolator(max_snapshots=3)
    for second in range(10):
        interpolator.push({"t": float(second)}, float(second))
    assert len(interpolator) == 3
    assert interpolator.sample(now=0.0) == {"t": 7.0}  # the oldest kept


def test_sampling_forgets_snapshots_older_than_the_pair_in_use():
    interpolator = Interpolator(0.0)
    for second in range(5):
        interpolator.push({"t": float(second)}, float(second))
    assert interpolator.sample(now=2.5) == {"t": 2.5}
    assert len(interpolator) == 3  # the snapshots at 2, 3 and 4
    assert interpolator.sample(now=9.0) == {"t": 4.0}
    assert len(interpolator) == 1


def test_clear_forgets_every_snapshot():
    interpolator = pair({"x": 0.0}, {"x": 1.0})
    interpolator.clear()
    assert len(interpolator) == 0 and interpolator.sample(now=1.5) == {}


# -- the clock and the settings ------------------------------------------------


def test_an_injected_clock_times_pushes_and_samples():
    clock = ManualClock(100.0)
    interpolator = Interpolator(delay=0.25, clock=clock)  # times exact in binary
    interpolator.push({"x": 0.0})
    clock.now += 0.25
    interpolator.push({"x": 1.0})
    clock.now += 0.125  # looks at 100.375 - 0.25: halfway
    assert interpolator.sample() == {"x": 0.5}


def test_the_delay_can_change_while_running():
    interpolator = pair({"x": 0.0}, {"x": 10.0}, delay=0.5)
    interpolator.delay = 0.25
    assert interpolator.delay == 0.25
    assert interpolator.sample(now=1.75) == {"x": 5.0}


@pytest.mark.parametrize("delay", [-0.1, math.nan])
def test_a_negative_delay_is_refused(delay):
    with pytest.raises(ValueError, match="delay"):
        Interpolator(delay)
    interpolator = Interpolator()
    with pytest.raises(ValueError, match="delay"):
        interpolator.delay = delay


def test_fewer_than_two_snapshots_is_refused():
    with pytest.raises(ValueError, match="max_snapshots"):
        Interpolator(max_snapshots=1)


def test_importing_the_module_does_not_import_pygame():
    script = "import sys, pygnetic.interpolate; print('pygame' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


# -- lerp on its own -----------------------------------------------------------


def test_lerp_extrapolates_numbers_and_steps_the_rest_at_one():
    assert lerp(0.0, 10.0, 1.5) == 15.0
    assert lerp("a", "b", 0.999) == "a"
    assert lerp("a", "b", 1.0) == "b"


# -- the property --------------------------------------------------------------

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(
    snapshots=st.lists(
        st.tuples(st.floats(min_value=0.001, max_value=10.0), finite), min_size=1, max_size=8
    ),
    moments=st.lists(st.floats(min_value=-5.0, max_value=100.0), min_size=1, max_size=8),
)
def test_a_sampled_number_lies_between_the_snapshots_around_it(snapshots, moments):
    interpolator = Interpolator(0.0)
    times, values, now = [], [], 0.0
    for gap, value in snapshots:
        now += gap
        interpolator.push({"v": value}, now)
        times.append(now)
        values.append(value)
    for moment in sorted(moments):  # sampling moves forward, as a game's clock does
        sampled = interpolator.sample(now=moment)["v"]
        after = next((i for i, time in enumerate(times) if time > moment), len(times))
        around = values[max(after - 1, 0) : after + 1]
        slack = 1e-9 * max(map(abs, around))  # a + (b - a) * t may round by an ulp
        assert min(around) - slack <= sampled <= max(around) + slack
