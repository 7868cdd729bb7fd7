"""An authoritative game state that every client sees: PyGaSe's API, on pygnetic.

A PyGaSe program runs after changing its imports, ``from pygase import ...``
to ``from pygnetic.gamestate import ...``::

    from pygnetic.gamestate import Backend, Client, GameState

    # The server: a game loop moves the state on; events from clients change it.
    backend = Backend(
        initial_game_state=GameState(foo=0.0, bar=0.5),
        time_step_function=lambda game_state, dt: {'foo': game_state.foo + game_state.bar * dt},
        event_handlers={'SET_BAR': lambda new_bar, game_state, dt: {'bar': new_bar}},
    )
    backend.run('localhost', 8080)           # blocks; or backend.start() + backend.update()

    # A client: a replica of the state, and events to the server.
    client = Client()
    client.connect_in_thread(8080)           # or client.start(8080) + client.update()
    client.dispatch_event('SET_BAR', new_bar=2.0)
    client.wait_until(lambda game_state: game_state.bar == 2.0)
    with client.access_game_state() as game_state:
        print(game_state.foo)

What differs from PyGaSe: it runs over ENet or TCP (any pygnetic transport)
rather than PyGaSe's UDP protocol; events are reliable, so ``retries`` has
nothing to do; ``time_order`` never wraps; ``update1 + update2`` returns a
new update instead of changing one of them; and every blocking call has a
form for a pygame loop (``start()``, then ``update()`` once per frame), with
a pygame event (:data:`~pygnetic.event.NET_STATE`) when new state arrives.
State reaches clients through :mod:`pygnetic.replication`: each gets what
changed since the state it acknowledged, unreliable sequenced.
"""

from __future__ import annotations

from ..replication import ClientView
from ._client import Client
from ._events import Event
from ._model import TO_DELETE, GameState, GameStateUpdate, GameStatus
from ._server import Backend, Server
from ._store import GameStateMachine, GameStateStore

#: PyGaSe's name for what the server knows of one client.
ServerConnection = ClientView

__all__ = [
    "TO_DELETE",
    "Backend",
    "Client",
    "ClientView",
    "Event",
    "GameState",
    "GameStateMachine",
    "GameStateStore",
    "GameStateUpdate",
    "GameStatus",
    "Server",
    "ServerConnection",
]
