"""A package whose dependency is missing says which distribution needs it and what to install.

Each case hides one dependency in a fresh interpreter (``sys.modules[name] = None`` makes its
import fail as if it were not installed) and imports the package.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

CASES = [
    ("specstar.core", "msgspec", "specstar-core"),
    ("specstar.fastapi", "fastapi", "specstar-fastapi"),
    ("specstar.fastapi", "starlette", "specstar-fastapi"),
    ("specstar.testing", "pytest", "specstar-testing"),
    ("specstar.testing", "hypothesis", "specstar-testing"),
    ("specstar.redis", "redis", "specstar-mq-redis"),
    ("specstar.admin", "jinja2", "specstar-admin"),
]

_PROBE = """
import importlib, sys
sys.modules[{dependency!r}] = None
try:
    importlib.import_module({module!r})
except ModuleNotFoundError as exc:
    print(exc.name)
    print(exc)
else:
    raise SystemExit("imported without " + {dependency!r})
"""


@pytest.mark.parametrize(("module", "dependency", "distribution"), CASES)
def test_a_missing_dependency_names_the_distribution(
    module: str, dependency: str, distribution: str
) -> None:
    code = _PROBE.format(module=module, dependency=dependency)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    name, message = done.stdout.split("\n", 1)
    assert name == dependency
    assert distribution in message
    assert f"pip install {dependency}" in message
