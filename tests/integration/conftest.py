"""Fixtures the integration tests share."""

import pytest

import pygnetic.event as event


@pytest.fixture
def pygame_events():
    """pygame initialised with pygnetic's events on and an empty queue; pygame itself.

    Skips where pygame is not installed; events off and pygame shut down after.
    """
    pygame = pytest.importorskip("pygame")
    pygame.init()
    event.init()
    pygame.event.clear()
    yield pygame
    event.disable()
    pygame.quit()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real ``redis-server`` for this test session, on a Unix socket: its ``unix://`` URL.

    A socket file instead of a TCP port, so that no test binds a fixed port.
    Skips, saying why, where redis-server or redis-py is missing (.ci/run
    installs both).
    """
    from state_servers import start_redis

    with start_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def redis_url(redis_server):
    """The session's Redis, emptied before the test."""
    import redis

    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.close()
    return redis_server


@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path):
    """A state store of each kind: a SQLite file, and the session's Redis; closed after."""
    from pygnetic.state import SQLiteStore

    if request.param == "sqlite":
        made = SQLiteStore(tmp_path / "state.db")
    else:
        from pygnetic.state import RedisStore

        made = RedisStore(request.getfixturevalue("redis_url"))
    yield made
    made.close()


@pytest.fixture
def redis_stores(redis_url):
    """Make RedisStores on the session's Redis; each is closed after the test."""
    from pygnetic.state import RedisStore

    made = []

    def make(**kwargs):
        made.append(RedisStore(redis_url, **kwargs))
        return made[-1]

    yield make
    for each in made:
        each.close()
