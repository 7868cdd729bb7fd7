"""pygnetic.gamestate's data model: PyGaSe 0.3.1's GameStatus, GameState and GameStateUpdate."""

import time
import tracemalloc

import msgpack
import pytest

from pygnetic.errors import MessageError, PackError
from pygnetic.gamestate._model import TO_DELETE, GameState, GameStateUpdate, GameStatus

# -- TO_DELETE and GameStatus ------------------------------------------------


def test_to_delete_is_pygases_marker():
    assert bytes.fromhex("d281e5ba") == TO_DELETE
    assert type(TO_DELETE) is bytes


def test_game_status_values_are_pygases():
    # PyGaSe 0.3.1 looks labels up with list.index(): 'Paused' is 0, 'Active' 1.
    assert GameStatus.get("Paused") == 0 == GameStatus.PAUSED
    assert GameStatus.get("Active") == 1 == GameStatus.ACTIVE


def test_game_status_converts_both_ways():
    assert GameStatus.get(0) == "Paused"
    assert GameStatus.get(1) == "Active"
    for label in ("Paused", "Active"):
        assert GameStatus.get(GameStatus.get(label)) == label


@pytest.mark.parametrize("bad", [1.0, None, b"Paused", True, ["Paused"]])
def test_game_status_get_refuses_neither_int_nor_str(bad):
    with pytest.raises(TypeError, match="str label or an int value"):
        GameStatus.get(bad)


def test_game_status_get_says_which_labels_exist():
    with pytest.raises(ValueError, match=r"'Stopped' is not a GameStatus label.*Paused, Active"):
        GameStatus.get("Stopped")


@pytest.mark.parametrize("value", [2, -1, 10**30])
def test_game_status_get_refuses_an_unknown_value(value):
    with pytest.raises(IndexError, match="not a GameStatus value"):
        GameStatus.get(value)


def test_register_adds_the_next_value_once():
    class Status(GameStatus):
        pass

    Status.register("GameOver")
    Status.register("GameOver")
    Status.register("Paused")
    assert Status.get("GameOver") == 2
    assert Status.get(2) == "GameOver"
    assert Status.get("Paused") == 0
    with pytest.raises(ValueError):
        GameStatus.get("GameOver")  # a subclass's labels are its own


def test_register_refuses_a_label_that_is_not_a_str():
    with pytest.raises(TypeError):
        GameStatus.register(3)


# -- GameState ---------------------------------------------------------------


def test_a_new_state_is_paused_at_time_order_zero():
    state = GameState()
    assert state.time_order == 0
    assert state.game_status == GameStatus.get("Paused")
    assert state.is_paused()


def test_an_active_state_is_not_paused():
    assert not GameState(game_status=GameStatus.get("Active")).is_paused()


def test_keyword_arguments_become_attributes_in_the_instance_dict():
    state = GameState(3, foo=0.0, bar=[1, 2], pos={"x": 1})
    assert state.foo == 0.0
    assert state.bar == [1, 2]
    assert state.__dict__ == {
        "foo": 0.0,
        "bar": [1, 2],
        "pos": {"x": 1},
        "game_status": 0,
        "time_order": 3,
    }
    assert list(state.__dict__) == ["foo", "bar", "pos", "game_status", "time_order"]  # PyGaSe's
    state.baz = "later"
    assert state.baz == "later"


@pytest.mark.parametrize("bad", [-1, 1.5, "3", None, True])
def test_time_order_is_an_int_of_at_least_zero(bad):
    with pytest.raises(ValueError, match="time_order must be an int >= 0"):
        GameState(bad)
    with pytest.raises(ValueError, match="time_order must be an int >= 0"):
        GameStateUpdate(bad)


def test_time_order_takes_any_integer_type_and_is_stored_as_an_int():
    class Order(int):
        pass

    state = GameState(Order(3))
    assert type(state.time_order) is int
    assert state.time_order == 3


def test_time_order_never_wraps():
    assert GameState(70000).time_order == 70000
    assert GameStateUpdate(2**40) > GameStateUpdate(65535)


def test_states_and_updates_are_ordered_by_time_order():
    early, late = GameState(1, foo=9), GameState(2)
    assert early < late
    assert late > early
    assert not early > late
    assert GameStateUpdate(3) > late
    assert late < GameStateUpdate(3)
    assert not GameStateUpdate(2) > late
    with pytest.raises(TypeError):
        assert early < 5


def test_equal_means_same_type_and_same_attributes():
    assert GameState(1, foo=2) == GameState(1, foo=2)
    assert GameState(1, foo=2) != GameState(1, foo=3)
    assert GameState(1, foo=2) != GameState(2, foo=2)
    assert GameState(1) != GameStateUpdate(1, game_status=0)
    assert GameStateUpdate(1, foo=2) == GameStateUpdate(1, foo=2)
    assert GameState() != 0


def test_repr_shows_time_order_and_attribute_names():
    text = repr(GameState(7, foo=1, bar=2))
    assert text == "<GameState time_order=7 game_status=0; 2 attributes: foo, bar>"
    assert repr(GameStateUpdate(8, foo=1)) == "<GameStateUpdate time_order=8; 1 attribute: foo>"
    assert repr(GameStateUpdate(8)) == "<GameStateUpdate time_order=8; no attributes>"


def test_repr_of_a_huge_state_stays_short():
    value = "y" * 10**6
    attributes = {f"attribute_{index}_" + "x" * 1000: value for index in range(10000)}
    state = GameState(10**6, **attributes)
    state.__dict__["time_order"] = 10**1000
    text = repr(state)
    assert len(text) < 300
    assert text.startswith("<GameState time_order=<int of 3322 bits> game_status=0; 10000 att")
    assert text.endswith(", ...>")
    assert repr(GameState(**{"odd\nname": 1})).endswith("1 attribute: odd?name>")


# -- GameStateUpdate + GameStateUpdate ---------------------------------------


def test_combining_updates_keeps_the_newer_value_and_the_larger_time_order():
    older, newer = GameStateUpdate(1, foo=1, bar=1), GameStateUpdate(2, foo=2, baz=2)
    for combined in (older + newer, newer + older):
        assert combined == GameStateUpdate(2, foo=2, bar=1, baz=2)


def test_combining_updates_merges_nested_dicts():
    older = GameStateUpdate(1, players={"ann": {"x": 1, "y": 1}, "bob": {"x": 5}})
    newer = GameStateUpdate(2, players={"ann": {"x": 2}, "cid": {"x": 0}})
    expected = {"ann": {"x": 2, "y": 1}, "bob": {"x": 5}, "cid": {"x": 0}}
    assert (older + newer).players == expected
    assert (newer + older).players == expected


def test_combining_updates_changes_neither_operand():
    older = GameStateUpdate(1, players={"ann": {"x": 1}}, items=[1, 2])
    newer = GameStateUpdate(2, players={"ann": {"x": 2}, "bob": {"x": 3}}, gone=TO_DELETE)
    snapshot = (repr(older.__dict__), repr(newer.__dict__))
    combined = older + newer
    combined.players["ann"]["x"] = 99
    combined.players["bob"]["x"] = 99
    combined.items.append(3)
    assert (repr(older.__dict__), repr(newer.__dict__)) == snapshot
    assert combined is not older
    assert combined is not newer


def test_on_equal_time_order_the_left_operand_wins_as_in_pygase():
    assert (GameStateUpdate(1, foo="left") + GameStateUpdate(1, foo="right")).foo == "left"


def test_combining_keeps_to_delete_so_that_it_deletes_when_applied():
    combined = GameStateUpdate(1, foo=TO_DELETE, pos={"x": TO_DELETE}) + GameStateUpdate(2, bar=1)
    assert combined.foo == TO_DELETE
    assert combined.pos == {"x": TO_DELETE}
    state = GameState(foo=1, bar=0, pos={"x": 1, "y": 2})
    state += combined
    assert state == GameState(2, bar=1, pos={"y": 2})


def test_a_newer_value_replaces_to_delete_when_combining():
    assert (GameStateUpdate(1, foo=TO_DELETE) + GameStateUpdate(2, foo=3)).foo == 3
    assert (GameStateUpdate(2, foo=TO_DELETE) + GameStateUpdate(1, foo=3)).foo == TO_DELETE


def test_sum_combines_updates():
    updates = [GameStateUpdate(1, a=1), GameStateUpdate(2, a=2), GameStateUpdate(3, b={"c": 3})]
    assert sum(updates) == GameStateUpdate(3, a=2, b={"c": 3})
    assert sum(reversed(updates)) == GameStateUpdate(3, a=2, b={"c": 3})
    assert sum(updates[:1]) is updates[0]
    # PyGaSe's server: the updates newer than the client's, starting from its time order.
    base = GameStateUpdate(1)
    assert sum((u for u in updates if u > base), base) == GameStateUpdate(3, a=2, b={"c": 3})


def test_a_combination_is_as_new_as_its_newest_part_so_order_of_adding_matters():
    # As in PyGaSe: u1 + u3 holds a=1 at time order 3, newer than u2's a=2.
    u1, u2, u3 = GameStateUpdate(1, a=1), GameStateUpdate(2, a=2), GameStateUpdate(3, b=3)
    assert (u1 + u3 + u2).a == 1
    assert (u1 + u2 + u3).a == 2


def test_only_zero_of_the_ints_adds_to_an_update():
    with pytest.raises(TypeError):
        assert 1 + GameStateUpdate(1)
    with pytest.raises(TypeError):
        assert GameStateUpdate(1) + 0
    with pytest.raises(TypeError):
        assert GameStateUpdate(1) + GameState()


# -- GameState + GameStateUpdate ---------------------------------------------


def test_adding_a_newer_update_changes_the_state_in_place():
    state = GameState(foo=0.0, bar=0.5)
    alias = state
    state += GameStateUpdate(1, foo=0.25, new="yes")
    assert state is alias
    assert state == GameState(1, foo=0.25, bar=0.5, new="yes")
    assert (state + GameStateUpdate(2, foo=1.0)) is alias
    assert alias.foo == 1.0
    assert alias.time_order == 2


@pytest.mark.parametrize("time_order", [0, 4, 5])
def test_an_update_no_newer_than_the_state_changes_nothing(time_order):
    state = GameState(5, foo=1)
    state += GameStateUpdate(time_order, foo=2, bar=TO_DELETE)
    assert state == GameState(5, foo=1)


def test_an_update_deep_merges_into_the_state():
    state = GameState(players={"ann": {"x": 1, "y": 1}, "bob": {"x": 5}}, score=1)
    state += GameStateUpdate(1, players={"ann": {"x": 2}, "cid": {"x": 0}})
    assert state.players == {"ann": {"x": 2, "y": 1}, "bob": {"x": 5}, "cid": {"x": 0}}
    assert state.score == 1


def test_a_dict_replaces_what_is_not_a_dict_and_a_value_replaces_a_dict():
    state = GameState(a=5, b={"x": 1})
    state += GameStateUpdate(1, a={"x": 1}, b=[1])
    assert state == GameState(1, a={"x": 1}, b=[1])


def test_to_delete_removes_an_attribute_and_a_nested_key():
    state = GameState(foo=1, bar=2, players={"ann": {"x": 1, "y": 2}, "bob": {}})
    state += GameStateUpdate(1, foo=TO_DELETE, players={"ann": {"y": TO_DELETE}, "bob": TO_DELETE})
    assert state == GameState(1, bar=2, players={"ann": {"x": 1}})
    assert not hasattr(state, "foo")


def test_to_delete_for_what_is_not_there_changes_nothing():
    state = GameState(players={"ann": 1})
    state += GameStateUpdate(1, foo=TO_DELETE, players={"bob": TO_DELETE}, new={"k": TO_DELETE})
    assert state == GameState(1, players={"ann": 1}, new={})


def test_to_delete_inside_a_list_is_just_bytes():
    state = GameState()
    state += GameStateUpdate(1, markers=[TO_DELETE])
    assert state.markers == [TO_DELETE]


def test_the_state_never_shares_a_dict_or_a_list_with_an_update():
    first = GameStateUpdate(1, players={"ann": {"x": 1}}, items=[{"id": 1}])
    second = GameStateUpdate(2, players={"bob": {"x": 2}})
    snapshot = repr(first.__dict__)
    state = GameState()
    state += first
    state += second
    state.players["ann"]["x"] = 99
    state.items[0]["id"] = 99
    state.items.append(2)
    assert repr(first.__dict__) == snapshot
    assert second.players == {"bob": {"x": 2}}


def test_applying_changes_only_the_state():
    update = GameStateUpdate(1, players={"ann": {"x": TO_DELETE}}, foo=TO_DELETE)
    snapshot = repr(update.__dict__)
    state = GameState(foo=1, players={"ann": {"x": 1}})
    state += update
    assert repr(update.__dict__) == snapshot


def test_a_subclass_of_game_state_stays_itself():
    class MyState(GameState):
        def speed(self):
            return self.bar * 2

    state = MyState(bar=1)
    state += GameStateUpdate(1, bar=2)
    assert type(state) is MyState
    assert state.speed() == 4


def test_the_pygase_backend_example_runs_on_these_objects():
    # pygase.backend.Backend's docstring, with its time step and event handlers.
    state = GameState(foo=0.0, bar=0.5)

    def time_step(game_state, dt):
        return {"foo": game_state.foo + game_state.bar * dt}

    def reset_foo(game_state, dt):
        return {"foo": 0.0}

    def set_bar(new_bar, game_state, dt):
        return {"bar": new_bar}

    # What pygase.backend.GameStateMachine does with what they return.
    state += GameStateUpdate(state.time_order + 1, game_status=GameStatus.get("Active"))
    assert not state.is_paused()
    for handler in (time_step, lambda gs, dt: set_bar(2.0, gs, dt), time_step):
        state += GameStateUpdate(state.time_order + 1, **handler(state, 0.5))
    assert state == GameState(4, GameStatus.ACTIVE, foo=1.25, bar=2.0)
    state += GameStateUpdate(state.time_order + 1, **reset_foo(state, 0.5))
    assert state.foo == 0.0
    # What pygase's server sends a client that has no state yet, and the client's merge.
    full = GameStateUpdate(**state.__dict__)
    client_state = GameState()
    client_state += full
    assert client_state == state


# -- to_bytes and from_bytes -------------------------------------------------

NESTED = {
    "pos": {"x": 1.5, "y": -2.25},
    "players": {"ann": {"hp": 100, "items": ["sword", b"\x00\xff"]}, 7: [0.1, None, True]},
    "name": "Tom",
    "blob": b"\x01\x02",
    "big": 2**63,
    "flag": False,
    "gone": TO_DELETE,
}


def test_a_state_round_trips():
    state = GameState(123456, GameStatus.ACTIVE, **NESTED)
    copy = GameState.from_bytes(state.to_bytes())
    assert copy == state
    assert copy is not state
    assert type(copy.time_order) is int
    assert list(copy.__dict__) == list(state.__dict__)


def test_an_update_round_trips():
    update = GameStateUpdate(70000, game_status=GameStatus.PAUSED, **NESTED)
    copy = GameStateUpdate.from_bytes(update.to_bytes())
    assert copy == update
    assert type(copy.time_order) is int
    state = GameState(gone=1)
    state += copy
    assert not hasattr(state, "gone")


def test_tuples_come_back_as_lists_and_from_bytes_takes_any_bytes_like():
    data = GameState(pos=(1, 2)).to_bytes()
    assert GameState.from_bytes(bytearray(data)).pos == [1, 2]
    assert GameState.from_bytes(memoryview(data)).pos == [1, 2]


def test_a_subclass_comes_back_as_itself():
    class MyState(GameState):
        pass

    assert type(MyState.from_bytes(MyState(foo=1).to_bytes())) is MyState


def test_to_bytes_refuses_what_msgpack_cannot_pack():
    for bad in ({1, 2}, object(), 2**64):
        with pytest.raises(PackError, match="cannot pack GameState"):
            GameState(foo=bad).to_bytes()


def test_from_bytes_refuses_what_is_not_bytes():
    with pytest.raises(TypeError, match="takes bytes"):
        GameState.from_bytes("not bytes")


def _packed(value):
    return msgpack.packb(value)


NOT_A_STATE = {
    "empty": b"",
    "garbage": b"\xc1\xff\x00garbage",
    "truncated": GameState(foo="x" * 100).to_bytes()[:-10],
    "trailing bytes": GameState().to_bytes() + b"\x00",
    "a list": _packed([0, 1]),
    "an int": _packed(5),
    "non-str name": _packed({"time_order": 1, "game_status": 0, 5: 1}),
    "bytes name": _packed({"time_order": 1, "game_status": 0, b"foo": 1}),
    "no time_order": _packed({"game_status": 0}),
    "no game_status": _packed({"time_order": 1}),
    "float time_order": _packed({"time_order": 1.0, "game_status": 0}),
    "bool time_order": _packed({"time_order": True, "game_status": 0}),
    "negative time_order": _packed({"time_order": -1, "game_status": 0}),
    "str game_status": _packed({"time_order": 1, "game_status": "Paused"}),
    "marker game_status": _packed({"time_order": 1, "game_status": TO_DELETE}),
    "hides is_paused": _packed({"time_order": 1, "game_status": 0, "is_paused": 1}),
    "hides to_bytes": _packed({"time_order": 1, "game_status": 0, "to_bytes": 1}),
    "hides __init__": _packed({"time_order": 1, "game_status": 0, "__init__": 1}),
    "hides __class__": _packed({"time_order": 1, "game_status": 0, "__class__": 1}),
    "unhashable key": b"\x83\xaatime_order\x01\xabgame_status\x00\x81\x90\x01",
}


@pytest.mark.parametrize("data", NOT_A_STATE.values(), ids=NOT_A_STATE)
def test_from_bytes_refuses_what_is_not_a_packed_state(data):
    with pytest.raises(MessageError):
        GameState.from_bytes(data)


def test_from_bytes_says_what_is_wrong():
    with pytest.raises(MessageError, match="not a packed GameState: game_status is missing"):
        GameState.from_bytes(_packed({"time_order": 1}))
    with pytest.raises(MessageError, match=r"would hide GameStateUpdate\.to_bytes"):
        GameStateUpdate.from_bytes(_packed({"time_order": 1, "to_bytes": 1}))


def test_names_that_hide_nothing_on_an_instance_are_allowed():
    # mro and __name__ are the class's own, from its metaclass: no instance sees them.
    data = _packed({"time_order": 1, "game_status": 0, "mro": 1, "__name__": 2, "items": 3})
    state = GameState.from_bytes(data)
    assert (state.mro, state.__name__, state.items) == (1, 2, 3)


def test_an_update_needs_only_time_order_but_its_game_status_is_an_int():
    assert GameStateUpdate.from_bytes(_packed({"time_order": 1})) == GameStateUpdate(1)
    with pytest.raises(MessageError, match="game_status is b'"):
        GameStateUpdate.from_bytes(_packed({"time_order": 1, "game_status": TO_DELETE}))
    with pytest.raises(MessageError, match="time_order is missing"):
        GameStateUpdate.from_bytes(_packed({"foo": 1}))
    with pytest.raises(MessageError, match=r"would hide GameState\.is_paused"):
        GameStateUpdate.from_bytes(_packed({"time_order": 1, "is_paused": 1}))


def _nested(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


def test_state_nested_as_deep_as_the_limit_decodes():
    state = GameState(deep=_nested(31))  # the innermost list at level 32
    assert GameState.from_bytes(state.to_bytes()) == state


def _header(name):
    # {"time_order": 1, "game_status": 0, name: ...}: the value follows.
    return b"\x83\xaatime_order\x01\xabgame_status\x00" + _packed(name)


HOSTILE = {
    # 100000 one-byte arrays, one inside the other.
    "deeply nested": _header("deep") + b"\x91" * 100000 + b"\x90",
    "nested one level too deep": GameState(deep=_nested(32)).to_bytes(),
    # An array that claims 4 billion items, a map that claims as many, a 4 GB str.
    "huge array header": _header("a") + b"\xdd\xff\xff\xff\xff" + b"\x00" * 64,
    "huge map header": _header("m") + b"\xdf\xff\xff\xff\xff" + b"\x00" * 64,
    "huge str header": _header("s") + b"\xdb\xff\xff\xff\xff" + b"x" * 64,
    "huge bin header": _header("b") + b"\xc6\xff\xff\xff\xff" + b"x" * 64,
    "huge top-level map": b"\xdf\xff\xff\xff\xff",
    # A million empty arrays: a million list objects for a megabyte.
    "many containers": _header("many") + b"\xdd\x00\x0f\x42\x40" + b"\x90" * 1_000_000,
}


@pytest.mark.parametrize("data", HOSTILE.values(), ids=HOSTILE)
@pytest.mark.parametrize("cls", [GameState, GameStateUpdate])
def test_from_bytes_refuses_a_hostile_payload_quickly(cls, data):
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(MessageError):
            cls.from_bytes(data)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    # 65536 containers of at most 72 bytes, and a copy of the input, at most.
    assert peak < 65536 * 100 + 4 * len(data)
