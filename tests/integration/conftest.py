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
