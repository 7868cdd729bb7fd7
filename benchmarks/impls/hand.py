"""What the hand-written floors ``hand_enet`` and ``hand_tcp`` share: pygnetic's work, by hand.

The raw rows decode a message and branch on its type id. pygnetic does more
for each message, and so does any server that must not trust its clients:
it checks that the decoded value is a ``[type_id, *fields]`` array of a known
type with the right number of fields (and refuses the peer otherwise),
builds a message object (a :func:`collections.namedtuple`, as pygnetic's
message classes are), and calls the handler method of that type written as
pygnetic's documentation writes them (``def net_chat_msg(self, message,
**kwargs)``, called as ``handler.net_chat_msg(message, channel=channel)``).
Sending, it packs ``(type_id, *fields)`` with a reused Packer and checks the
size against the same limit pygnetic has. These modules do exactly that and
no more, as a careful programmer would write it for these five messages:
one ``if`` per type rather than a table (measured: a dict of routes costs
about 8% more per message), and each message built with
``tuple.__new__(cls, (raw[1], raw[2]))`` (measured on Python 3.11: 270 ns,
against 400 with ``raw[1:]``, 500 with a bound ``_make`` and 470 calling the
class).
"""

from __future__ import annotations

import collections

import msgpack

from .. import common

CHAT, PING, PONG, STATE, MOVE = common.CHAT, common.PING, common.PONG, common.STATE, common.MOVE
ChatMsg, Ping, Pong, State, Move = (
    collections.namedtuple(name, fields) for name, fields, _ in common.MESSAGES
)
#: Largest message either side sends or takes: pygnetic's default ``max_message_size``.
LIMIT = 4 * 1024 * 1024
#: What msgpack raises for bytes that are no valid message (bad data, bad UTF-8,
#: trailing bytes, a buffer limit, an unhashable or non-string map key).
DECODE_ERRORS = (ValueError, TypeError, msgpack.UnpackException)
_new = tuple.__new__


class MessageTooLarge(ValueError):
    pass


def too_large(name: str, size: int) -> MessageTooLarge:
    return MessageTooLarge(f"{name} packs to {size} bytes, over the {LIMIT} byte limit")


class GameHandler:
    """The server's handler of one connection, as pygnetic's docs write one."""

    __slots__ = ("peer", "server")

    def __init__(self, server, peer) -> None:
        self.server = server
        self.peer = peer

    def net_chat_msg(self, message, **kwargs):
        self.server.chats += 1

    def net_ping(self, message, **kwargs):
        self.server.net_pong(self.peer, message.seq)

    def net_move(self, message, **kwargs):
        self.server.moves += 1


class PlayerHandler:
    """The client's handler of one connection."""

    __slots__ = ("client",)

    def __init__(self, client) -> None:
        self.client = client

    def net_pong(self, message, **kwargs):
        client = self.client
        client.pongs += 1
        client.last_pong = message.seq

    def net_state(self, message, **kwargs):
        self.client.states += 1


def serve(handler: GameHandler, raw, channel: int) -> bool:
    """Give a decoded message to the server's handler; False: not a valid message.

    A valid one the server has no method for (a pong, a state) is ignored, as
    pygnetic ignores a registered message that no handler takes.
    """
    if type(raw) is not list or not raw or type(kind := raw[0]) is not int:
        return False
    size = len(raw)
    if kind == CHAT:
        if size == 3:
            handler.net_chat_msg(_new(ChatMsg, (raw[1], raw[2])), channel=channel)
            return True
    elif kind == PING:
        if size == 2:
            handler.net_ping(_new(Ping, (raw[1],)), channel=channel)
            return True
    elif kind == MOVE:
        if size == 3:
            handler.net_move(_new(Move, (raw[1], raw[2])), channel=channel)
            return True
    elif kind == STATE:
        return size == 9
    elif kind == PONG:
        return size == 2
    return False


def play(handler: PlayerHandler, raw, channel: int) -> bool:
    """Give a decoded message to the client's handler; False: not a valid message."""
    if type(raw) is not list or not raw or type(kind := raw[0]) is not int:
        return False
    size = len(raw)
    if kind == STATE:
        if size == 9:
            handler.net_state(_new(State, raw[1:]), channel=channel)
            return True
    elif kind == PONG:
        if size == 2:
            handler.net_pong(_new(Pong, (raw[1],)), channel=channel)
            return True
    elif kind in (CHAT, MOVE):
        return size == 3
    elif kind == PING:
        return size == 2
    return False
