"""The pygnetic 1.0 reference's examples, in Python 3, over both adapters.

A pygame programmer copying them from the old documentation must get working
code: default factory, ``pygnetic.init()``, ``'localhost'``, events and handlers.
"""

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = """
import pygame
import pygnetic
import pygnetic.event as event

pygame.init()
assert pygnetic.init(events=True, n_module=({adapter!r},), logging_lvl=None)
chat_msg = pygnetic.register('chat_msg', ('player', 'msg'))

class Handler(pygnetic.Handler):
    def net_chat_msg(self, message, **kwargs):
        # send to everybody else, like a chat room
        for connection in self.server.connections(exclude=self.connection):
            connection.net_chat_msg(message.player, message.msg)
        self.connection.send(chat_msg, 'server', 'got it')

server = pygnetic.Server(port=0, handler=Handler)
port = server.address[1]

client = pygnetic.client.Client()
connection = client.connect("localhost", port)
connection.net_chat_msg('Tom', 'Test message')
connection.send('chat_msg', 'Tom', 'Test message 2')

printed = []
for frame in range(2000):
    server.update()
    client.update(1)
    for e in pygame.event.get():
        if e.type == event.NETWORK:
            if e.net_type == event.NET_CONNECTED:
                printed.append('connected')
            elif e.net_type == event.NET_DISCONNECTED:
                printed.append('disconnected')
            elif e.net_type == event.NET_RECEIVED:
                if e.msg_type == chat_msg and e.connection is connection:
                    printed.append('%s: %s' % (e.message.player, e.message.msg))
    if printed.count('server: got it') == 2:
        break
print('|'.join(printed))
server.close()
client.close()
"""


@pytest.mark.parametrize("adapter", ["socket", "enet"])
def test_seed_style_program_works(adapter):
    if adapter == "enet":
        pytest.importorskip("enet")
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT.format(adapter=adapter))],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "connected|server: got it|server: got it"
