"""The protocol page (docs/topics/protocol.rst) and the JavaScript client agree with the code.

Every byte string and the worked digest on the page are recomputed here from
pygnetic itself; the chat's registry is read from ``examples/chat.py`` with
:mod:`ast` (importing it would register its messages in this process's
default factory), and from ``examples/web/chat.html``. With Node and
``node_modules`` present, ``examples/web/pygnetic.js`` computes the digests
and the hello frame too, and ``examples/web/pygame-types.js`` writes and
reads pygame's types as Python does.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import msgpack
import pytest

from pygnetic.handshake import encode_answer, encode_hello
from pygnetic.message import MessageFactory
from pygnetic.protocol import PROTOCOL_VERSION, CloseCode
from pygnetic.wire_types import Color, FRect, Rect, Vector2, Vector3

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "topics" / "protocol.rst").read_text(encoding="utf-8")
WEB = ROOT / "examples" / "web"
NODE = shutil.which("node")
HAVE_MSGPACK_JS = (ROOT / "node_modules" / "@msgpack" / "msgpack" / "package.json").exists()


def chat_registry() -> list[tuple[str, tuple[str, ...]]]:
    """The ``pygnetic.register(name, fields)`` calls of examples/chat.py, in order."""
    tree = ast.parse((ROOT / "examples" / "chat.py").read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "register"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "pygnetic"
        ):
            name, fields = (ast.literal_eval(arg) for arg in node.args)
            found.append((node.lineno, name, tuple(fields)))
    return [(name, fields) for _, name, fields in sorted(found)]


def factory_of(registry, **options) -> MessageFactory:
    factory = MessageFactory("msgpack", **options)
    for name, fields in registry:
        factory.register(name, fields)
    return factory


def page_bytes(text: str) -> bytes:
    """Bytes written on the page as hex pairs and "quoted text", up to the first other word."""
    out = bytearray()
    for token in re.findall(r'"[^"]*"|\S+', text):
        if token.startswith('"'):
            out += token[1:-1].encode()
        elif re.fullmatch(r"[0-9a-f]{2}", token):
            out.append(int(token, 16))
        else:
            break
    return bytes(out)


def test_the_chat_registry_has_four_messages():
    assert [name for name, _ in chat_registry()] == ["hello", "say", "line", "notice"]


def test_the_worked_digest_is_the_chat_examples():
    canonical = re.search(r"^   (\[2,\"msgpack\".*)$", PAGE, re.M).group(1)
    digest = re.search(r"whose digest is\s+``([0-9a-f]{32})``", PAGE).group(1)
    factory = factory_of(chat_registry())
    assert hashlib.sha256(canonical.encode()).digest()[:16] == factory.registry_digest()
    assert digest == factory.registry_digest().hex()
    assert json.loads(canonical)[0] == PROTOCOL_VERSION


def test_the_hello_dump_is_the_chat_clients_hello():
    dump = PAGE.split("The chat example's hello")[1].split("Answer: server to client")[0]
    lines = [line for line in dump.splitlines()[2:] if line.strip()]
    written = b"".join(page_bytes(line) for line in lines)
    assert written == encode_hello(factory_of(chat_registry()))


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ('50 47 4e 02 00 07 81 a4 "code" 00', encode_answer(0)),
        ("92 01 a2 68 69", msgpack.packb([1, "hi"])),
        ("93 02 a3 41 6e 6e a2 68 69", msgpack.packb([2, "Ann", "hi"])),
        ("92 ff cb 40 93 4a 00 00 00 00 00", msgpack.packb([-1, 1234.5])),
        ("93 fd 00 a3 62 79 65", msgpack.packb([-3, 0, "bye"])),
    ],
)
def test_each_byte_example_is_what_pygnetic_writes(written, value):
    assert written in PAGE
    assert page_bytes(written) == value


def test_the_messages_on_the_page_are_the_chats():
    factory = factory_of(chat_registry())
    assert factory.pack(factory.get_by_name("say")("hi")) == msgpack.packb([1, "hi"])
    assert factory.pack(factory.get_by_name("line")("Ann", "hi")) == page_bytes(
        "93 02 a3 41 6e 6e a2 68 69"
    )


def test_the_close_code_table_is_the_enum():
    rows = re.findall(r"\* - (\d+)\n\s+- ``([A-Z_]+)``\n\s+- (\d+)\n", PAGE)
    assert [(int(code), name) for code, name, _ in rows] == [(c.value, c.name) for c in CloseCode]
    for code, _, websocket in rows:
        assert int(websocket) == (1000 if code == "0" else 4000 + int(code))


def test_the_web_page_registers_the_chats_messages():
    html = (WEB / "chat.html").read_text(encoding="utf-8")
    block = html.split("const MESSAGES = [")[1].split("];")[0]
    found = [
        (name, tuple(re.findall(r'"(\w+)"', fields)))
        for name, fields in re.findall(r'\["(\w+)", \[([^\]]*)\]\]', block)
    ]
    assert found == chat_registry()


NODE_SCRIPT = """
import { registryDigest, handshakeFrame, PYGAME_TYPES } from %(module)s;
const cases = JSON.parse(process.argv[1]);
const hex = (bytes) => Buffer.from(bytes).toString("hex");
const out = [];
for (const [messages, pygame] of cases) {
  out.push(hex(await registryDigest(messages, pygame ? PYGAME_TYPES : [])));
}
const [chat] = cases[0];
const digest = await registryDigest(chat);
out.push(hex(handshakeFrame({registry: digest, serializer: "msgpack", messages: chat.length,
  types: "pygame types", credentials: null, session: null})));
if (process.argv[2] === "fallback") {
  Object.defineProperty(globalThis, "crypto", {value: undefined});  // as outside a secure context
}
out.push(hex(await registryDigest(chat)));
console.log(JSON.stringify(out));
"""


@pytest.mark.skipif(NODE is None, reason="node is not installed")
@pytest.mark.skipif(not HAVE_MSGPACK_JS, reason="node_modules/@msgpack/msgpack is not installed")
@pytest.mark.parametrize("sha256", ["web crypto", "fallback"])
def test_pygnetic_js_computes_pythons_digests_and_hello(sha256):
    chat = [[name, list(fields)] for name, fields in chat_registry()]
    cases = [
        (chat, True),
        ([["ünï", ["é", "ß"]], ["nothing", []], ["emoji_\U0001d4b3", ["x"]]], True),
        ([["only", ["a", "b"]]], False),
        ([], True),
    ]
    script = NODE_SCRIPT % {"module": json.dumps((WEB / "pygnetic.js").as_uri())}
    result = subprocess.run(
        [NODE, "--input-type=module", "-e", script, json.dumps(cases), sha256],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    digests = json.loads(result.stdout)
    expected = [
        factory_of(messages, pygame_types=pygame).registry_digest().hex()
        for messages, pygame in cases
    ]
    assert digests[: len(cases)] == expected
    assert digests[len(cases)] == encode_hello(factory_of(chat_registry())).hex()
    assert digests[-1] == expected[0]


PYGAME_TYPES_SCRIPT = """
import { encode, decode } from "@msgpack/msgpack";
import { extensionCodec, PYGAME_TYPES } from %(module)s;
const codec = extensionCodec(PYGAME_TYPES);
const [fromPython] = process.argv.slice(1);
const values = [0, {$type: "Vector2", x: 1.5, y: -2}, {$type: "Vector3", x: 1, y: 2, z: 3},
  {$type: "Rect", x: -5, y: 6, w: 7, h: 8}, {$type: "FRect", x: 0.5, y: 1, w: 2, h: 3},
  {$type: "Color", r: 1, g: 2, b: 3, a: 255}];
console.log(JSON.stringify([Buffer.from(encode(values, {extensionCodec: codec})).toString("hex"),
  decode(Buffer.from(fromPython, "hex"), {extensionCodec: codec})]));
"""


@pytest.mark.skipif(NODE is None, reason="node is not installed")
@pytest.mark.skipif(not HAVE_MSGPACK_JS, reason="node_modules/@msgpack/msgpack is not installed")
def test_pygame_types_js_reads_and_writes_pythons_pygame_types():
    """pygame-types.js writes Python's bytes for each pygame type, and reads them back."""
    factory = factory_of([("shapes", ("v2", "v3", "rect", "frect", "color"))])
    shapes = factory.get_by_name("shapes")
    values = (  # pygnetic's stand-ins pack to the bytes their pygame twins pack to
        Vector2(1.5, -2),
        Vector3(1, 2, 3),
        Rect(-5, 6, 7, 8),
        FRect(0.5, 1, 2, 3),
        Color(1, 2, 3, 255),
    )
    script = PYGAME_TYPES_SCRIPT % {"module": json.dumps((WEB / "pygame-types.js").as_uri())}
    result = subprocess.run(
        [NODE, "--input-type=module", "-e", script, factory.pack(shapes(*values)).hex()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,  # where node_modules is, for the bare "@msgpack/msgpack" import
    )
    written, read = json.loads(result.stdout)
    assert bytes.fromhex(written) == factory.pack(shapes(*values))
    assert read == [
        0,
        {"$type": "Vector2", "x": 1.5, "y": -2},
        {"$type": "Vector3", "x": 1, "y": 2, "z": 3},
        {"$type": "Rect", "x": -5, "y": 6, "w": 7, "h": 8},
        {"$type": "FRect", "x": 0.5, "y": 1, "w": 2, "h": 3},
        {"$type": "Color", "r": 1, "g": 2, "b": 3, "a": 255},
    ]
