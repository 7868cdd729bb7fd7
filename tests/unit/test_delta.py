"""ChangeLog and apply_delta: the deltas a server sends are exactly what changed.

The property test plays random histories (nested dicts, DELETE, dicts
replacing scalars and scalars replacing dicts, time orders with gaps) and
checks every base a client can acknowledge: the delta since it, applied to
the state the client holds, gives exactly the current state, and carries
nothing that stayed the same.
"""

import collections
import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pygnetic._delta import DELETE, ChangeLog, DeltaError, apply_delta

_MISSING = object()

# Few keys, so that updates meet what is there; an int key among them, as msgpack allows.
KEYS = st.sampled_from(["a", "b", "c", 7])
LEAVES = st.one_of(
    st.integers(-3, 3),
    st.booleans(),  # True == 1: only a type-strict comparison tells them apart
    st.floats(allow_nan=False, min_value=-2, max_value=2),
    st.sampled_from(["x", "y", ""]),
    st.none(),
    st.lists(st.integers(0, 2), max_size=2),
)
STATES = st.recursive(LEAVES, lambda inner: st.dictionaries(KEYS, inner, max_size=3), max_leaves=8)
CHANGES = st.recursive(
    st.one_of(LEAVES, st.just(DELETE)),
    lambda inner: st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=6,
)
HISTORIES = st.tuples(
    st.dictionaries(KEYS, STATES, max_size=3),  # the initial state
    st.integers(0, 3),  # its time order
    st.integers(1, 6),  # history
    st.lists(st.tuples(st.dictionaries(KEYS, CHANGES, max_size=3), st.integers(1, 2)), max_size=8),
)


def strict(value):
    """``value`` with each leaf tagged with its type, so that 1, 1.0 and True differ."""
    if type(value) is dict:
        return {key: strict(item) for key, item in value.items()}
    if type(value) is list:
        return [strict(item) for item in value]
    return (type(value).__name__, value)


def reference_apply(state, changes):
    """What applying ``changes`` means, written the plain way."""
    for key, value in changes.items():
        if type(value) is bytes and value == DELETE:
            state.pop(key, None)
        elif type(value) is dict:
            if type(state.get(key)) is not dict:
                state[key] = {}
            reference_apply(state[key], value)
        else:
            state[key] = value


def lookup(state, path):
    node = state
    for key in path:
        if type(node) is not dict or key not in node:
            return _MISSING
        node = node[key]
    return node


def leaf_paths(sets, prefix=()):
    """The paths of ``sets`` down to each value that is not a non-empty dict."""
    for key, value in sets.items():
        path = (*prefix, key)
        if type(value) is dict and value:
            yield from leaf_paths(value, path)
        else:
            yield path


def same(a, b):
    return (a is _MISSING and b is _MISSING) or (
        a is not _MISSING and b is not _MISSING and strict(a) == strict(b)
    )


def played(initial, time_order, history, steps):
    """Apply ``steps`` to a ChangeLog; return it and the state as of every time order."""
    log = ChangeLog(copy.deepcopy(initial), time_order, history)
    expected = copy.deepcopy(initial)
    states = {time_order: copy.deepcopy(initial)}
    for changes, gap in steps:
        before = copy.deepcopy(expected)
        reference_apply(expected, changes)
        count = log.apply(changes, log.time_order + gap)
        assert strict(log.state) == strict(expected)
        assert (count == 0) == (strict(before) == strict(expected))
        for t in range(log.time_order - gap + 1, log.time_order + 1):
            states[t] = copy.deepcopy(before) if t < log.time_order else copy.deepcopy(expected)
    return log, states


@settings(max_examples=150, deadline=None)
@given(HISTORIES)
def test_the_delta_since_any_base_turns_any_later_state_into_the_current_one(history_case):
    initial, time_order, history, steps = history_case
    log, states = played(initial, time_order, history, steps)
    now = log.time_order
    assert log.horizon == max(time_order, now - history)
    for base in range(time_order, now + 1):
        delta = log.delta(base)
        if base < log.horizon:
            assert delta is None
            continue
        assert delta is not None
        # A client applies it to what it holds: the state as of base, or a
        # later one (its newer acknowledgement has not reached the server yet).
        for held in range(base, now + 1):
            state = copy.deepcopy(states[held])
            deletes, sets = copy.deepcopy(delta)  # as the wire would: nothing shared
            apply_delta(state, deletes, sets)
            assert strict(state) == strict(log.state), (base, held, delta)
        # Nothing in it stayed the same in every state since base.
        deletes, sets = delta
        since = [states[t] for t in range(base, now + 1)]
        for path in [tuple(p) for p in deletes] + list(leaf_paths(sets)):
            assert not all(same(lookup(s, path), lookup(since[0], path)) for s in since), (
                f"{path} is in the delta since {base} but never changed: {delta}"
            )


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(KEYS, STATES, max_size=3), st.dictionaries(KEYS, CHANGES, max_size=3))
def test_a_delta_after_one_change_holds_only_values_it_changed(initial, changes):
    log = ChangeLog(copy.deepcopy(initial), 0)
    log.apply(changes, 1)
    deletes, sets = log.delta(0)
    for path in leaf_paths(sets):
        assert not same(lookup(initial, path), lookup(log.state, path)), (path, sets)
    for path in deletes:
        assert not same(lookup(initial, tuple(path)), lookup(log.state, tuple(path))), path


def test_unchanged_values_are_not_in_the_delta():
    log = ChangeLog({"ball": {"x": 1, "y": 2}, "score": [0, 0], "name": "pong"}, 0)
    changed = log.apply({"ball": {"x": 1, "y": 3}, "score": [0, 0], "name": "pong"}, 1)
    assert changed == 1
    assert log.delta(0) == ([], {"ball": {"y": 3}})
    assert log.apply({"ball": {"x": 1}}, 2) == 0
    assert log.delta(1) == ([], {})


def test_a_pygame_vector_changed_in_place_is_a_change():
    pygame = pytest.importorskip("pygame")
    position = pygame.Vector2(1, 2)
    log = ChangeLog({}, 0)
    assert log.apply({"ball": position}, 1) == 1
    position.x += 1  # the game moves its own vector, and hands it over again
    assert log.apply({"ball": position}, 2) == 1
    assert log.delta(1) == ([], {"ball": pygame.Vector2(2, 2)})
    assert log.apply({"ball": position}, 3) == 0


def test_a_value_of_another_type_is_a_change():
    log = ChangeLog({"n": 1, "f": 1.0}, 0)
    assert log.apply({"n": True, "f": 1}, 1) == 2
    deletes, sets = log.delta(0)
    assert deletes == [] and sets == {"n": True, "f": 1}
    assert type(sets["n"]) is bool and type(sets["f"]) is int


def test_a_dict_replacing_a_value_is_deleted_then_set_and_back():
    log = ChangeLog({"p": 5, "q": {"old": 1}}, 0)
    log.apply({"p": {"x": 1}, "q": 2}, 1)
    deletes, sets = log.delta(0)
    assert deletes == [["p"]] and sets == {"p": {"x": 1}, "q": 2}
    stale = {"p": {"stale": True}, "q": {"old": 1}}  # a key that must not survive
    apply_delta(stale, deletes, copy.deepcopy(sets))
    assert stale == {"p": {"x": 1}, "q": 2}


def test_a_delete_of_a_missing_key_changes_nothing():
    log = ChangeLog({"a": 1}, 0)
    assert log.apply({"b": DELETE, "c": {"d": DELETE}}, 1) == 1  # "c" becomes {}
    assert log.state == {"a": 1, "c": {}}
    assert log.delta(0) == ([["c"]], {"c": {}})


def test_below_the_horizon_the_delta_is_none():
    log = ChangeLog({}, 10, history=3)
    assert log.delta(9) is None  # before the log began
    for t in range(11, 16):
        log.apply({"t": t}, t)
    assert log.horizon == 12
    assert log.delta(11) is None
    assert log.delta(12) == ([], {"t": 15})
    assert log.delta(15) == ([], {})


def test_apply_refuses_a_time_order_that_is_not_newer():
    log = ChangeLog({}, 5)
    with pytest.raises(ValueError, match="not after"):
        log.apply({"a": 1}, 5)
    with pytest.raises(ValueError, match="history"):
        ChangeLog(history=0)


MALFORMED = [
    pytest.param(None, {}, id="deletes None"),
    pytest.param((), {}, id="deletes a tuple"),
    pytest.param({}, {}, id="deletes a dict"),
    pytest.param([], [], id="sets a list"),
    pytest.param([], None, id="sets None"),
    pytest.param(["a"], {}, id="a path that is a str"),
    pytest.param([[]], {}, id="an empty path"),
    pytest.param([["a"], 3], {}, id="a path that is an int after a good one"),
]


@pytest.mark.parametrize(("deletes", "sets"), MALFORMED)
def test_apply_delta_rejects_malformed_shapes_and_leaves_the_state_alone(deletes, sets):
    state = {"a": {"b": 1}, "c": 2}
    with pytest.raises(DeltaError):
        apply_delta(state, deletes, sets)
    assert state == {"a": {"b": 1}, "c": 2}


@pytest.mark.parametrize(
    "path", [[["x"], "b"], [{"k": 1}, "b"], ["a", ["b"]], ["a", "b", "deeper"], ["zz", "b"]]
)
def test_a_delete_of_a_path_that_cannot_be_there_is_ignored(path):
    state = {"a": {"b": 1}, "c": 2}
    apply_delta(state, [path], {"c": 3})
    assert state == {"a": {"b": 1}, "c": 3}


def test_a_dict_subclass_changed_in_place_is_seen_as_changed():
    scores = collections.Counter()
    log = ChangeLog()
    for time_order in (1, 2, 3):
        scores["ann"] += 1
        log.apply({"scores": scores}, time_order)
    assert type(log.state["scores"]) is dict and log.state["scores"] is not scores
    assert log.delta(1) == ([], {"scores": {"ann": 3}})
