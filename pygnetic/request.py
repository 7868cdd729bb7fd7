"""Requests and answers: ask a peer, and get its answer, its refusal or a timeout.

Many exchanges are questions: "list the servers", "register me", "what is the
value of this key?". This module matches each answer to its question by a
request id, gives every question a deadline, carries refusals with a reason,
and fails what is pending when the connection ends. It is sans-I/O: it sends
and receives ordinary pygnetic messages through a
:class:`~pygnetic.connection.Connection`, never sleeps and starts no thread.

Declaring the messages
----------------------

Both sides declare the same messages, in the same order, as usual. Every
request and every answer has ``request_id`` as its first field; a
:class:`RequestTypes` registers one more message, the refusal
``refused(request_id, code, reason)``, and says which answer each request gets::

    messages = pygnetic.MessageFactory('msgpack')
    get_score = messages.register('get_score', ('request_id', 'player'))
    score = messages.register('score', ('request_id', 'points'))
    requests = RequestTypes(messages)      # registers 'refused'
    requests.add(get_score, score)         # get_score is answered with score

Answering
---------

Decorate a handler method named ``net_<request name>`` with
:meth:`RequestTypes.answers`. It returns the answer's fields after
``request_id``, as a tuple, or raises :exc:`RequestRefused` to refuse::

    class ScoreHandler(pygnetic.Handler):
        @requests.answers(get_score)
        def net_get_score(self, message):
            if message.player not in scores:
                raise RequestRefused('no such player', code='unknown')
            return (scores[message.player],)

A method that cannot answer at once takes ``deferred=True`` and a third
argument, a :class:`Reply`, to answer (or refuse) later, from any code that
runs in the game loop::

        @requests.answers(get_turn, deferred=True)
        def net_get_turn(self, message, reply):
            self.waiting.append(reply)      # later: reply.answer(turn_number)

Asking
------

A :class:`Requester` asks on one connection. :meth:`Requester.ask` sends at
once and returns a :class:`Request`; the answer arrives during a later
``update()``::

    asker = Requester(connection, requests)
    request = asker.ask(get_score, 'Tom', callback=show)    # show(request) when done
    while playing:
        client.update(16)
        asker.poll()                    # times out what is overdue, runs callbacks
        if request.done and request.error is None:
            points = request.result().points

Scripts and tests may block instead: :meth:`Request.wait` calls the host's
``update()`` until the request is done::

    points = asker.ask(get_score, 'Tom').wait(5).points

When a request completes
------------------------

A request is *done* once it has an outcome: the answer message, or one of
the errors below; its ``callback`` then runs, once. Nothing completes behind
your back, outside the game loop:

* an answer or a refusal completes it while the host's ``update()``
  dispatches the message;
* the end of the connection fails every pending request with
  :exc:`RequestAborted`, naming the close reason, in the ``update()`` that
  notices the end;
* the deadline (``timeout`` seconds after :meth:`~Requester.ask`, by the
  requester's ``clock``) fails it with :exc:`RequestTimeout` at the first
  :meth:`Requester.poll` after the deadline, or the first look at the request
  itself (:attr:`~Request.done`, :attr:`~Request.error`,
  :meth:`~Request.result`, :meth:`~Request.wait`). A late answer is ignored.

So a loop that checks ``request.done`` needs nothing else; a loop that relies
on callbacks calls :meth:`Requester.poll` once per frame.

Limits
------

Request ids are ints from 1 to :data:`MAX_REQUEST_ID`, unique among a
connection's pending requests. What arrives from the peer is checked: a
refusal's reason is cut to :data:`MAX_REASON_LENGTH` characters and its code
to :data:`MAX_CODE_LENGTH`, with unprintable characters replaced. The
answering side refuses, with the code :data:`BUSY`, a request that would give
the peer more than ``max_pending`` deferred replies at once
(:data:`DEFAULT_MAX_PENDING`); it refuses a malformed request (a bad
``request_id``, or a handler raising :exc:`~pygnetic.errors.MessageError`)
with the code :data:`INVALID`, and closes a connection after ``max_invalid``
of those (:data:`DEFAULT_MAX_INVALID`) with
:attr:`CloseCode.PROTOCOL_ERROR <pygnetic.protocol.CloseCode.PROTOCOL_ERROR>`.

Errors
------

Every failed request's error is a :exc:`RequestError`: :exc:`RequestRefused`
(with ``reason`` and ``code``), :exc:`RequestTimeout` (also a
``TimeoutError``) or :exc:`RequestAborted` (with the connection's
``close_code`` and ``close_reason``). An answer of the wrong message type
fails the request with a plain :exc:`RequestError`.
"""

from . import _request_common as _common
from ._request_answering import Reply, RequestTypes
from ._request_asking import Request, Requester
from ._request_common import RequestAborted, RequestError, RequestRefused, RequestTimeout

__all__ = [
    "BUSY",
    "DEFAULT_MAX_INVALID",
    "DEFAULT_MAX_PENDING",
    "DEFAULT_TIMEOUT",
    "INTERNAL",
    "INVALID",
    "MAX_CODE_LENGTH",
    "MAX_REASON_LENGTH",
    "MAX_REQUEST_ID",
    "Reply",
    "Request",
    "RequestAborted",
    "RequestError",
    "RequestRefused",
    "RequestTimeout",
    "RequestTypes",
    "Requester",
]

# The limits and refusal codes are defined in _request_common, where both sides
# use them, and bound here under the comments that the API reference shows.

#: Seconds a request waits for its answer unless told otherwise.
DEFAULT_TIMEOUT = _common.DEFAULT_TIMEOUT
#: Deferred replies one connection may have outstanding before more requests are refused.
DEFAULT_MAX_PENDING = _common.DEFAULT_MAX_PENDING
#: Malformed requests after which the answering side closes the connection.
DEFAULT_MAX_INVALID = _common.DEFAULT_MAX_INVALID
#: Largest request id; ids run from 1 to this and then start again.
MAX_REQUEST_ID = _common.MAX_REQUEST_ID
#: Longest refusal reason kept, in characters (sent and received).
MAX_REASON_LENGTH = _common.MAX_REASON_LENGTH
#: Longest refusal code kept, in characters, when it is a str.
MAX_CODE_LENGTH = _common.MAX_CODE_LENGTH

#: Refusal code of a malformed request (bad ``request_id``, or ``MessageError``).
INVALID = _common.INVALID
#: Refusal code of a request over the ``max_pending`` limit.
BUSY = _common.BUSY
#: Refusal code sent when the answering method raised an unexpected exception.
INTERNAL = _common.INTERNAL
