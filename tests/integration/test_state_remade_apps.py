"""Permissions are those of the space as the store has it now, never an older copy.

An application deleted and made again with stricter modes (by the admin
command on the same SQLite file, or through another server on the same
Redis) is read and written under its new modes from the next request on.
"""

import pytest
from state_servers import ServerThread

from pygnetic.state import (
    ADMIN_ONLY,
    DistributedState,
    PermissionError,
    SQLiteStore,
)
from pygnetic.state._model import Space


def _remade_stricter(address_for_owner):
    with DistributedState(address_for_owner) as owner:
        owner.create_account("b@example.com", "b-password")
        owner.login("b@example.com", "b-password")
        owner.new_app("g", readmode=ADMIN_ONLY, writemode=ADMIN_ONLY)
        owner["secret"] = "b's"


def test_an_app_remade_behind_the_service_keeps_its_new_modes(tmp_path):
    store = SQLiteStore(tmp_path / "s.db")
    with ServerThread(store) as running, DistributedState(running.address) as player:
        player.create_account("a@example.com", "a-password")
        player.login("a@example.com", "a-password")
        player.new_app("g")  # ANY, ANY
        player["k"] = 1
        assert player["k"] == 1
        admin_command = SQLiteStore(tmp_path / "s.db")  # python -m pygnetic.state delete-app g
        admin_command.delete_space(Space("g").key)
        admin_command.close()
        _remade_stricter(running.address)
        with pytest.raises(PermissionError):
            player["secret"]
        with pytest.raises(PermissionError):
            player["k"] = 2
        with pytest.raises(PermissionError):
            player.delete_app()  # a is no longer the admin of g
    store.close()


def test_an_app_remade_through_another_server_keeps_its_new_modes(redis_url):
    from pygnetic.state import RedisStore

    first, second = RedisStore(redis_url), RedisStore(redis_url)
    with (
        ServerThread(first) as one,
        ServerThread(second) as two,
        DistributedState(one.address) as player,
    ):
        player.create_account("a@example.com", "a-password")
        player.login("a@example.com", "a-password")
        player.new_app("g")
        player["k"] = 1
        changes = []
        player.watch("k", lambda *change: changes.append(change))
        with DistributedState(two.address) as a_again:
            a_again.login("a@example.com", "a-password")
            a_again.join("g")
            a_again.delete_app()
        _remade_stricter(two.address)
        with pytest.raises(PermissionError):
            player["secret"]
        with pytest.raises(PermissionError):
            player["k"] = 2
        with DistributedState(two.address) as owner:
            owner.login("b@example.com", "b-password")
            owner.join("g")
            owner["k"] = "b's private k"
        for _ in range(200):
            player.poll(2)
        # The watch ended with the deleted app: told once that k is gone, never of b's k.
        assert changes == [("k", None, None)]
    first.close()
    second.close()
