"""pygame's Vector2, Vector3, Rect, FRect and Color as message fields, and small types of your own.

Send a ``pygame.Vector2`` as a field, alone or inside lists and dicts, and it
arrives as a ``pygame.Vector2``::

    position = pygnetic.register('position', ('player', 'pos'))
    connection.net_position('Tom', pygame.Vector2(3.5, -1.25))

    def net_position(self, message, **kwargs):
        message.pos   # pygame.Vector2(3.5, -1.25)

``Vector2``, ``Vector3``, ``Rect``, ``FRect`` (pygame-ce only) and ``Color``
travel this way with both built-in serializers, from pygame and from
pygame-ce alike: msgpack packs each as an extension type (a ``Vector2`` takes
18 bytes), json as a tagged object (``{"$pygnetic": "Vector2", "v": [3.5,
-1.25]}``); :doc:`/reference/serialization` gives both forms byte by byte.

**What arrives.** pygnetic never imports pygame. A received value becomes
pygame's own type when the program has imported pygame (``'pygame' in
sys.modules``: pygame or pygame-ce, whichever is installed, as both import as
``pygame``), else one of the stand-ins below: small pure-Python classes with
pygame's attribute names, so a dedicated server without pygame (or one that
never imports it, and so neither prints pygame's banner nor loads SDL) can
read, keep and relay them. A stand-in packs to exactly the bytes its pygame
twin packs to, so what a server relays or stores arrives unchanged, and it
compares equal to its twin. An ``FRect`` arrives as the :class:`FRect`
stand-in under pygame, which has no FRect; under pygame-ce it becomes a
``pygame.FRect``, which keeps 32-bit floats: rounded, and infinite beyond
about 3.4e38 (check ``math.isfinite`` after, not before, it arrives). A
subclass of a type travels as that type and arrives as it.

**What is refused.** A value that does not fit its type is the sender's
error (:exc:`~pygnetic.errors.PackError` at the call): a Rect component
beyond 32 bits, a Color component outside 0 to 255. From a peer, an
extension of the wrong length or of an unknown code, a json tag with wrong
fields, or fields your ``from_fields`` refuses are a
:exc:`~pygnetic.errors.MessageError`, and the core closes that connection
with the reason. NaN and infinity are accepted in the float components of
Vector2, Vector3 and FRect, as pygame accepts them and as pygnetic accepts
them in any float field: refusing them in one type would protect nothing.
Check ``math.isfinite`` where a value from a client matters. Each received
value counts as one container against the serializer's ``max_containers``
(two with json: its object and its array). A wire value cannot be a dict
key: receivers refuse keys other than str, bytes, int, float, bool and None.

**Turning them off.** ``MessageFactory(pygame_types=False)`` (or
``factory.pygame_types = False`` before the first connection) packs and
unpacks exactly as pygnetic did without them: pygame values are refused
again, and msgpack extensions arrive as ``msgpack.ExtType``. Whether they are
on is part of the registry hash, so a peer that disagrees is refused.

**Your own types.** :meth:`MessageFactory.register_type()
<pygnetic.message.MessageFactory.register_type>` (or
:func:`pygnetic.register_type` for the default factory) adds a class, with a
code from :data:`GAME_CODES`, whose values travel as a few scalar fields::

    @dataclass
    class Card:
        suit: str
        rank: int

    pygnetic.register_type(Card, 1, to_fields=lambda c: (c.suit, c.rank))

Both peers must register the same types with the same codes and names, before
connecting, as messages; the registry hash covers them. ``from_fields`` (the
class itself by default) gets the fields as arguments; whatever it raises for
a peer's fields is that peer's :exc:`~pygnetic.errors.MessageError`.
"""

from ._standins import Color, FRect, Rect, Vector2, Vector3
from ._types import GAME_CODES, JSON_TAG, MAX_FIELDS, PYGNETIC_CODES, WireType, WireTypes

__all__ = [
    "GAME_CODES",
    "JSON_TAG",
    "MAX_FIELDS",
    "PYGNETIC_CODES",
    "Color",
    "FRect",
    "Rect",
    "Vector2",
    "Vector3",
    "WireType",
    "WireTypes",
]

for _cls in (Color, FRect, Rect, Vector2, Vector3, WireType, WireTypes):
    _cls.__module__ = __name__  # where they are documented, and how they print
del _cls
