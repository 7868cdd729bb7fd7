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
