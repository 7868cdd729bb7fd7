"""Which connections of a state server watch which keys, and telling them of changes.

A watcher is told only what it may read at the time of the change (a ban or
a withdrawn authorization ends what it hears); the watches of a deleted
space end with it, after one last notice that its keys have no value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import QuotaError
from ._model import Space, Stored
from ._outputs import Output
from ._protocol import CHANGED

if TYPE_CHECKING:
    from ._server import StateHandler
    from ._service import StateService

__all__ = ["Watches"]

Watched = tuple[str, str]  # (space key, key)


class Watches:
    """The watches of one state server.

    Args:
        service: For read permissions at the time of each change.
        max_watches: Keys one connection may watch at once.
    """

    def __init__(self, service: StateService, max_watches: int) -> None:
        self._service = service
        self._max = max_watches
        self._watchers: dict[Watched, set[StateHandler]] = {}
        # The spaces with a watch, and their watched keys (for a deletion).
        self._spaces: dict[str, Space] = {}
        self._keys: dict[str, set[str]] = {}

    def __bool__(self) -> bool:
        return bool(self._watchers)

    def add(self, handler: StateHandler, space: Space, key: str) -> None:
        """Let ``handler`` hear of changes to ``key`` of ``space``.

        Raises:
            QuotaError: The connection watches its most keys.
        """
        watched = (space.key, key)
        if watched not in handler.watching and len(handler.watching) >= self._max:
            raise QuotaError(f"a connection may watch {self._max} keys at once")
        handler.watching.add(watched)
        self._watchers.setdefault(watched, set()).add(handler)
        self._spaces[space.key] = space
        self._keys.setdefault(space.key, set()).add(key)

    def remove(self, handler: StateHandler, space_key: str, key: str) -> None:
        """Stop ``handler`` hearing of ``key`` (a key it does not watch is no error)."""
        watched = (space_key, key)
        handler.watching.discard(watched)
        watchers = self._watchers.get(watched)
        if watchers is None:
            return
        watchers.discard(handler)
        if not watchers:
            del self._watchers[watched]
            keys = self._keys[space_key]
            keys.discard(key)
            if not keys:
                del self._keys[space_key], self._spaces[space_key]

    def forget(self, handler: StateHandler) -> None:
        """Drop every watch of ``handler`` (its connection ended)."""
        for space_key, key in list(handler.watching):
            self.remove(handler, space_key, key)

    def tell(self, space: Space, key: str, stored: Stored | None) -> Output | None:
        """The output that tells the watchers of ``key`` who may read it its new value.

        The watchers of the key ``''`` (a whole dictionary's) hear of every key.
        """
        watchers = self._watchers.get((space.key, key))
        everything = self._watchers.get((space.key, ""))
        if everything:
            watchers = everything | watchers if watchers else everything
        if not watchers:
            return None
        targets = self._readers(space, watchers)
        return _telling(targets, space, key, stored) if targets else None

    def _readers(self, space: Space, watchers: set[StateHandler]) -> list[StateHandler]:
        may = self._service.may
        return [handler for handler in watchers if may(space, handler.user, False)]

    def space_deleted(self, space_key: str) -> list[Output]:
        """End the watches of a deleted space; the outputs tell its watchers its keys are gone."""
        space = self._spaces.get(space_key)
        if space is None:
            return []
        outputs = []
        for key in list(self._keys.get(space_key, ())):
            watchers = self._watchers.get((space_key, key), set())
            outputs.append(_telling(self._readers(space, watchers), space, key, None))
            for handler in list(watchers):
                self.remove(handler, space_key, key)
        return outputs

    def changed_elsewhere(self, changed: list[tuple[str, str]]) -> None:
        """Tell what another server changed: ``(space key, key)``, a key ``''`` for a deletion."""
        store = self._service.store
        for space_key, key in dict.fromkeys(changed):
            if not key:
                for output in self.space_deleted(space_key):
                    output()
                continue
            space = self._spaces.get(space_key)
            if space is not None and (
                (space_key, key) in self._watchers or (space_key, "") in self._watchers
            ):
                told = self.tell(space, key, store.get(space_key, key))
                if told is not None:
                    told()


def _telling(targets: list[StateHandler], space: Space, key: str, stored: Stored | None) -> Output:
    """The output that sends ``targets`` the new value of ``key`` (None: it has none)."""
    data, digest = (None, None) if stored is None else (stored.data, stored.hash)

    def send() -> None:
        for handler in targets:
            handler.connection.send(CHANGED, space.kind, space.name, key, data, digest)

    return send
