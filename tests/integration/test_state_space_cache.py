"""A server keeps each space for a second; a deletion through another server ends that sooner."""

import pytest
from state_servers import ServerThread

from pygnetic.state import AppIdError, DistributedState, SQLiteStore, StateLimits
from pygnetic.state._model import Space
from pygnetic.state._service import SPACE_CACHE_SECONDS, StateService


def test_a_space_deleted_behind_the_service_is_read_again_after_the_cache_time(tmp_path):
    now = [0.0]
    store, other = SQLiteStore(tmp_path / "s.db"), SQLiteStore(tmp_path / "s.db")
    service = StateService(store, StateLimits(), clock=lambda: now[0])
    service.new_space("admin", "app", "game", 0, 0, True)
    service.put("admin", "app", "game", "k", 1, None)
    assert service.space("app", "game").owner == "admin"
    other.delete_space(Space("game").key)  # as the admin command does, on the same file
    now[0] += SPACE_CACHE_SECONDS + 0.01
    with pytest.raises(AppIdError):
        service.space("app", "game")
    with pytest.raises(AppIdError):  # writes ask the store itself, cache or not
        service.put("admin", "app", "game", "k", 2, None)
    store.close()
    other.close()


def test_a_deletion_through_another_server_on_redis_is_heard_of(redis_url):
    from pygnetic.state import RedisStore

    frozen = lambda: 100.0  # noqa: E731 (the cache never times out: only the notice can end it)
    first, second = RedisStore(redis_url), RedisStore(redis_url)
    with (
        ServerThread(first, clock=frozen) as one,
        ServerThread(second) as two,
        DistributedState(two.address) as admin,
    ):
        admin.create_account("admin@example.com", "admin-password")
        admin.login("admin@example.com", "admin-password")
        admin.new_app("admin+game")
        admin["k"] = 1
        with DistributedState(one.address) as player:
            player.join("admin+game")
            assert player["k"] == 1  # server one keeps the space now
            admin.delete_app()
            for _ in range(1000):
                try:
                    player.version()
                    player["k"]
                except AppIdError:
                    break
                except KeyError:
                    continue  # the space is still kept, its values are gone
            else:
                raise AssertionError("server one still serves the deleted app")
    first.close()
    second.close()
