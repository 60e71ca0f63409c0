"""The peer's own virtual environment: ``benchmarks/.venv-peer`` (git-ignored).

The ``specstar`` package on PyPI ships a top-level ``specstar/__init__.py`` that would shadow
our ``specstar`` namespace, so it never enters our environment: this module creates a separate
venv with ``python -m venv``, installs the pinned peer (with its PostgreSQL extra) and the same
uvicorn version as ours, and hands back that venv's interpreter. ``peer_driver.py`` runs there.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

PEER_VERSION = "0.12.3"
VENV_DIR = Path(__file__).resolve().parent / ".venv-peer"


def requirements() -> list[str]:
    """What the peer venv holds: the pinned peer with the extra its PostgreSQL storage needs
    (``psycopg2``), and our uvicorn version so both HTTP apps run on the same server."""
    return [f"specstar[postgresql]=={PEER_VERSION}", f"uvicorn=={version('uvicorn')}"]


def _python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def ensure(progress: Callable[[str], None], venv: Path = VENV_DIR) -> Path:
    """The peer venv's interpreter, creating or refreshing the venv when needed.

    Raises:
        RuntimeError: the venv or the install failed (the message says why).
    """
    wanted = requirements()
    marker = venv / "bench-requirements.json"
    python = _python(venv)
    if python.exists() and marker.exists() and json.loads(marker.read_text()) == wanted:
        return python
    progress(f"peer: creating {venv.name} with {', '.join(wanted)}")
    shutil.rmtree(venv, ignore_errors=True)
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *wanted],
    ]
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise RuntimeError(f"{' '.join(cmd[:4])} ... failed: {' / '.join(tail)}")
    marker.write_text(json.dumps(wanted))
    return python


def versions(python: Path) -> dict[str, str]:
    """Versions of the peer and its web stack, as installed in its venv."""
    driver = Path(__file__).resolve().parent / "peer_driver.py"
    done = subprocess.run(
        [str(python), str(driver), "versions"], capture_output=True, text=True, check=True
    )
    found: dict[str, str] = json.loads(done.stdout)
    return found
