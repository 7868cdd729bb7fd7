"""A resumable session: what each side of a connection keeps so a lost link can be replaced.

A server with a ``reconnect_grace`` issues each client a secret token at the
handshake. When the link drops without either side closing the connection,
the server keeps the connection (its handlers, its identity) for the grace
period, and the client reconnects with the token and takes it over on a new
link. Nothing reliable is lost or delivered twice in between:

- Each side counts the *reliable* messages it delivered in the current
  *epoch* (one epoch per link): every message over a stream transport (TCP
  carries everything reliably), the ``delivery='reliable'`` ones over a
  packet transport (ENet), per channel, since ENet orders each channel on
  its own. pygnetic's own control messages are not counted.
- Each side keeps every reliable message it sent in the epoch until the
  peer acknowledges it: the peer sends its counts (an ``_acked`` control
  message) a few times a second when they changed.
- At a resume each side tells the other its counts for the old epoch (in
  the hello and in the answer), drops what the peer had, and sends the rest
  again as the first messages of the new epoch, followed by the reliable
  messages sent while the link was down. Unreliable messages in flight when
  the link dropped, or sent while it is down, are lost.

What a peer reports is checked against what was sent: a count beyond it, or
below what it acknowledged before, is a protocol error, and what one side
keeps for the other is bounded (``max_replay_bytes``): past it the session
stops being resumable rather than grow.
"""

from __future__ import annotations

import collections
import hashlib
import secrets
from typing import Any

__all__ = ["MAX_REPLAY_BYTES", "TOKEN_BYTES", "Session", "SessionError", "token_key"]

#: Bytes of a session token.
TOKEN_BYTES = 32
#: Bytes of reliable messages one side keeps for the other, unacknowledged or
#: sent while the link is down, before the session stops being resumable.
MAX_REPLAY_BYTES = 4 * 1024 * 1024
#: Channels a count may name (a packet transport's channel; 0 on a stream).
MAX_KEYS = 256


class SessionError(ValueError):
    """A peer's counts cannot be right: it says it received what was never sent."""


def token_key(token: bytes) -> bytes:
    """What a server files a token under: its hash, so a lookup reveals nothing of it."""
    return hashlib.sha256(token).digest()


def new_token() -> bytes:
    """A fresh secret token."""
    return secrets.token_bytes(TOKEN_BYTES)


def parse_counts(value: Any) -> dict[int, int]:
    """Read a peer's counts, ``[[key, count], ...]``, into a dict.

    Raises:
        SessionError: Not a list of at most 256 pairs of a key 0..255 and a
            count >= 0, each key once.
    """
    if type(value) is not list or len(value) > MAX_KEYS:
        raise SessionError("malformed message counts")
    counts: dict[int, int] = {}
    for pair in value:
        if type(pair) is not list or len(pair) != 2:
            raise SessionError("malformed message counts")
        key, count = pair
        if type(key) is not int or type(count) is not int or not 0 <= key < MAX_KEYS:
            raise SessionError("malformed message counts")
        if count < 0 or key in counts:
            raise SessionError("malformed message counts")
        counts[key] = count
    return counts


class Session:
    """One connection's session: its token, its counts, and what it may have to send again.

    Args:
        token: The secret the client resumes with.
        grace: Seconds the server waits for a lost client.
        max_replay_bytes: What may be kept for the peer before the session
            stops being resumable.
    """

    __slots__ = (
        "_acked",
        "_kept",
        "_kept_bytes",
        "_sent",
        "_told",
        "_told_at",
        "confirm_marker",
        "filed_key",
        "grace",
        "lost",
        "max_replay_bytes",
        "outage",
        "received",
        "resumable",
        "stream_base",
        "token",
        "unconfirmed",
        "why_not",
    )

    def __init__(self, token: bytes, grace: float, max_replay_bytes: int = MAX_REPLAY_BYTES):
        self.token = token
        self.grace = grace
        self.max_replay_bytes = max_replay_bytes
        #: False once something was given up; the connection then ends as without a session.
        self.resumable = True
        #: Why it is not resumable, for the log.
        self.why_not = ""
        #: Reliable messages delivered per channel in this epoch (packet transports).
        self.received = [0] * MAX_KEYS
        #: On a stream: ``messages_received`` when the epoch began.
        self.stream_base = 0
        #: The counts of the lost link's epoch, told to the peer at the resume.
        self.lost: list[list[int]] = []
        #: Server side, after a resume until the client shows it got the answer:
        #: (the key of the token it resumed with, its counts then, ours then).
        #: Should the answer be lost, the client comes back with that token,
        #: and the resume is done again from there.
        self.unconfirmed: tuple[bytes, dict[int, int], list[list[int]]] | None = None
        #: What had arrived when the answer left (see :attr:`unconfirmed`).
        self.confirm_marker = 0
        #: The token key the server filed :attr:`unconfirmed` under.
        self.filed_key: bytes | None = None
        #: Reliable messages sent while the link is down, in order.
        self.outage: list[tuple[bytes, int]] = []
        self._sent = [0] * MAX_KEYS  # per key, reliable messages sent this epoch
        self._acked = [0] * MAX_KEYS  # per key, how many of them the peer has
        # key -> (data, channel) sent and not acknowledged, oldest first
        self._kept: dict[int, collections.deque[tuple[bytes, int]]] = {}
        self._kept_bytes = 0
        self._told: list[list[int]] = []  # the counts last acknowledged to the peer
        self._told_at = -1  # messages_received when they were worked out

    # -- sending ---------------------------------------------------------------

    def sent(self, key: int, data: bytes, channel: int) -> None:
        """Keep a reliable message sent this epoch until the peer has it."""
        self._sent[key] += 1
        if not self.resumable:
            return
        kept = self._kept.get(key)
        if kept is None:
            kept = self._kept[key] = collections.deque()
        kept.append((data, channel))
        self._kept_bytes += len(data)
        if self._kept_bytes > self.max_replay_bytes:
            self.give_up(f"more than {self.max_replay_bytes} bytes unacknowledged")

    def held(self, data: bytes, channel: int) -> bool:
        """Keep a reliable message sent while the link is down; False if given up."""
        if not self.resumable:
            return False
        self.outage.append((data, channel))
        self._kept_bytes += len(data)
        if self._kept_bytes > self.max_replay_bytes:
            self.give_up(f"more than {self.max_replay_bytes} bytes sent while disconnected")
            return False
        return True

    def give_up(self, why: str) -> None:
        """Stop being resumable: what was kept could no longer be sent again in full."""
        self.resumable = False
        self.why_not = why
        self._kept.clear()
        self.outage.clear()
        self._kept_bytes = 0

    def acknowledged(self, counts: dict[int, int]) -> None:
        """The peer has ``counts`` of this epoch's messages: forget those.

        Raises:
            SessionError: A count beyond what was sent.
        """
        for key, count in counts.items():
            acked = self._acked[key]
            if count > self._sent[key]:
                raise SessionError("acknowledged more messages than were sent")
            if count <= acked:
                continue  # old news; a lower count is not a lie, only late
            self._acked[key] = count
            kept = self._kept.get(key)
            if kept is not None:
                for _ in range(min(count - acked, len(kept))):
                    self._kept_bytes -= len(kept.popleft()[0])

    # -- receiving -------------------------------------------------------------

    def counts(self, stream: bool, messages_received: int) -> list[list[int]]:
        """This epoch's delivered counts, as the peer reads them: ``[[key, count], ...]``."""
        if stream:
            return [[0, messages_received - self.stream_base]]
        return [[key, count] for key, count in enumerate(self.received) if count]

    def ack_due(self, stream: bool, messages_received: int) -> list[list[int]] | None:
        """The counts to acknowledge, or None when they have not changed since the last time.

        Nothing delivered since the last call (nothing at all was received)
        costs one comparison, however many channels there are.
        """
        if messages_received == self._told_at:
            return None
        self._told_at = messages_received
        counts = self.counts(stream, messages_received)
        if counts == self._told:
            return None
        self._told = counts
        return counts

    # -- resuming ----------------------------------------------------------------

    def replay(self, peer_has: dict[int, int]) -> list[tuple[bytes, int]]:
        """What to send again after a resume, given what the peer reports it has.

        The epoch's unacknowledged messages the peer does not have (by key,
        oldest first), then those sent while the link was down. Ends the epoch.

        Raises:
            SessionError: The peer reports more than was sent, or fewer than
                it acknowledged (what it missed is then gone).
        """
        replay: list[tuple[bytes, int]] = []
        for key in range(MAX_KEYS):
            has = peer_has.get(key, 0)
            sent = self._sent[key]
            acked = self._acked[key]
            if has > sent:
                raise SessionError("reports more messages than were sent")
            if has < acked:
                raise SessionError("reports fewer messages than it acknowledged")
            kept = list(self._kept.get(key, ()))
            replay.extend(kept[len(kept) - (sent - has) :] if sent > has else ())
        replay.extend(self.outage)
        self._sent = [0] * MAX_KEYS
        self._acked = [0] * MAX_KEYS
        self._kept.clear()
        self.outage = []
        self._kept_bytes = 0
        return replay

    def new_epoch(self, messages_received: int) -> None:
        """Start counting what is delivered anew: the link was replaced."""
        self.received = [0] * MAX_KEYS
        self.stream_base = messages_received
        self._told = []
        self._told_at = -1
