"""No install command in the docs, examples or messages asks the package index for pygnetic.

The index's ``pygnetic`` is the 2012 release 1.0 (an archive that fails to
build on Python 3), so a ``pip install "pygnetic[enet]"`` in a page sends a
reader there. pygnetic 2 is installed from a checkout (``".[enet]"``) or a git
URL (``"pygnetic[enet] @ git+..."``); a missing dependency by its own name.
"""

import re
import shlex
from pathlib import Path

import pytest

from pygnetic import _install

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ["README.md", "docs", "examples", "benchmarks", "pygnetic", ".ci"]
SUFFIXES = {".md", ".rst", ".txt", ".py", ""}  # "" for .ci/run
SKIPPED_PARTS = {"_build", "results", "__pycache__"}

PIP_INSTALL = re.compile(r"\bpip3?\s+install\b")
# What ends a command in prose or a shell line: a closing backtick, the next
# command, a comment, the end of a literal in a Python string.
END = re.compile(r"`|&&|\|\||[;|]|\s#|\\n|[\"']\)")
# Options whose next argument is a value, not a requirement.
TAKES_VALUE = {"-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-i"}
TAKES_VALUE |= {"--index-url", "--extra-index-url", "-f", "--find-links", "-t", "--target"}
PYGNETIC_FROM_INDEX = re.compile(r"pygnetic($|[\[=<>!~;])", re.IGNORECASE)


def install_arguments(text):
    """Yield ``(line number, arguments)`` of every ``pip install`` in ``text``."""
    for match in PIP_INSTALL.finditer(text):
        rest = text[match.end() :]
        line, _, after = rest.partition("\n")
        if not line.strip():  # wrapped after "install", as prose in a page may be
            line = after.partition("\n")[0]
        yield text.count("\n", 0, match.start()) + 1, END.split(line, maxsplit=1)[0]


def index_requirements(arguments):
    """Return the arguments of one ``pip install`` that would fetch pygnetic from the index."""
    try:
        tokens = shlex.split(arguments)
    except ValueError:  # an unbalanced quote, e.g. a command cut at a line end
        tokens = arguments.replace('"', " ").replace("'", " ").split()
    found = []
    skip = False
    for i, token in enumerate(tokens):
        if skip:
            skip = False
            continue
        if token.startswith("-"):
            skip = token in TAKES_VALUE
            continue
        token = token.rstrip(".,:)")
        if "@" in token or tokens[i + 1 : i + 2] == ["@"]:
            continue  # a direct reference: name @ URL
        if PYGNETIC_FROM_INDEX.match(token):
            found.append(token)
    return found


def scanned_files():
    for name in SCANNED:
        path = ROOT / name
        if path.is_file():
            yield path
        elif path.is_dir():
            for each in sorted(path.rglob("*")):
                if (
                    each.is_file()
                    and each.suffix in SUFFIXES
                    and not SKIPPED_PARTS & set(each.relative_to(ROOT).parts)
                ):
                    yield each


def offending_lines(path):
    text = path.read_text(encoding="utf-8", errors="replace")
    return [
        f"{path.relative_to(ROOT)}:{number}: pip install {arguments.strip()}"
        for number, arguments in install_arguments(text)
        if index_requirements(arguments)
    ]


@pytest.mark.parametrize(
    "line",
    [
        'pip install "pygnetic[enet]"',
        "pip install 'pygnetic[enet,pygame]'",
        "python -m pip install pygnetic",
        "pip install -U pygnetic==2.0.0",
        "pip install pygnetic.",
        "``pip install\n'pygnetic[enet]'``",
        "pip install --quiet msgpack pygnetic>=2",
        "run: pip install 'pygnetic[{extra}]'\"",
    ],
)
def test_a_command_that_fetches_pygnetic_from_the_index_is_found(line):
    assert [args for _, args in install_arguments(line) if index_requirements(args)], line


@pytest.mark.parametrize(
    "line",
    [
        'pip install ".[enet]" && python -m pygnetic.demo',
        'pip install -e ".[test]" && python -m pytest',
        "python -m pip install .",
        'pip install "pygnetic[enet] @ git+<repository URL>"',
        "pip install pygnetic@git+https://example.invalid/pygnetic.git",
        "pip install ./pygnetic",
        "python -m pip install pyenet-vladfi",
        "pip install pygnetic-tools",
        "`pip install ruff` then pygnetic",
        "pip install -r requirements.txt  # pygnetic is in there",
    ],
)
def test_a_command_that_installs_pygnetic_2_passes(line):
    assert not [args for _, args in install_arguments(line) if index_requirements(args)], line


def test_the_commands_messages_name_pass():
    for extra in ("enet", "pygame", "bench", "test", "all"):
        command = _install.install_command(extra)
        assert list(install_arguments(command)), command
        assert not index_requirements(next(install_arguments(command))[1]), command
    for template in (_install.INSTALL_FROM_CHECKOUT, _install.INSTALL_FROM_GIT):
        command = template.format(extras="enet")
        assert not index_requirements(next(install_arguments(command))[1]), command


def test_no_page_example_or_message_installs_pygnetic_from_the_index():
    if not (ROOT / "docs").is_dir():
        pytest.skip("no docs/: not a checkout")
    offending = []
    for path in scanned_files():
        offending += offending_lines(path)
    assert not offending, "these fetch pygnetic 1.0 from the index:\n" + "\n".join(offending)
