"""The shared persistent state service (work in progress)."""

from ._errors import *  # noqa: F403
from ._model import StateLimits
from ._sqlite import SQLiteStore
from ._store import Store


def __getattr__(name: str):  # noqa: ANN202
    if name == "RedisStore":
        from ._redis import RedisStore

        return RedisStore
    raise AttributeError(name)
