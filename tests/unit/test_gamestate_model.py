"""pygnetic.gamestate's data model: PyGaSe 0.3.1's GameStatus, GameState and GameStateUpdate."""

import pytest

from pygnetic.gamestate._model import TO_DELETE, GameStatus

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
