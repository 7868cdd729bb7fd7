"""pygnetic.discovery's public names exist, are documented, and need no pygame."""

import inspect
import subprocess
import sys

import pygnetic.discovery as discovery
from pygnetic.discovery.__main__ import main


def test_every_public_name_exists_and_classes_and_functions_are_documented():
    for name in discovery.__all__:
        value = getattr(discovery, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), name
            for attribute, member in vars(value).items():
                if not attribute.startswith("_") and inspect.isfunction(member):
                    assert inspect.getdoc(member), f"{name}.{attribute}"


def test_importing_discovery_imports_no_pygame():
    code = "import sys, pygnetic.discovery; print('pygame' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert output.stdout.strip() == "False", output.stderr


def test_bad_command_line_limits_are_reported(capsys):
    assert main(["--ttl", "0", "--port", "0"]) == 2
    assert "ttl must be between 0 and 86400" in capsys.readouterr().err
