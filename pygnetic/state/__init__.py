"""The shared persistent state service (work in progress)."""

from ._appstate import DistributedState
from ._client import StateClient, StateRequest
from ._errors import *  # noqa: F403
from ._model import ADMIN_ONLY, ANY, AUTHORIZED_ONLY, UNBANNED_ONLY, Space, StateLimits, hash_value
from ._protocol import STATE_PORT
from ._server import StateServer
from ._sqlite import SQLiteStore
from ._store import Store


def __getattr__(name: str):  # noqa: ANN202
    if name == "RedisStore":
        from ._redis import RedisStore

        return RedisStore
    raise AttributeError(name)
