"""The peers' own virtual environments: ``benchmarks/.venv-peer`` and ``.venv-jobpeers``
(git-ignored).

The ``specstar`` package on PyPI ships a top-level ``specstar/__init__.py`` that would shadow
our ``specstar`` namespace, so it never enters our environment: this module creates a separate
venv with ``python -m venv``, installs the pinned peer (with its PostgreSQL and RabbitMQ
extras) and the same uvicorn version as ours, and hands back that venv's interpreter.
``peer_driver.py`` and ``peer_jobs_driver.py`` run there. The job queues the jobs section
compares with (Procrastinate, Celery, Dramatiq) get a venv of their own
(:func:`ensure_job_peers`): they are no dependency of ours, and their driver
(``jobs_peers.py``) imports nothing of ours.
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
JOB_PEERS_VENV_DIR = Path(__file__).resolve().parent / ".venv-jobpeers"
#: The job queues of the jobs section, pinned so runs compare like with like.
JOB_PEERS = [
    "procrastinate==3.10.0",
    "psycopg[binary]==3.3.9",
    "celery[redis]==5.7.0",
    "dramatiq[rabbitmq,redis]==2.2.1",
]


def requirements() -> list[str]:
    """What the peer venv holds: the pinned peer with the extras its PostgreSQL storage
    (``psycopg2``) and its RabbitMQ job queue (``pika``) need, and our uvicorn version so both
    HTTP apps run on the same server; ``s3`` adds boto3 for its S3 backend."""
    return [f"specstar[postgresql,mq,s3]=={PEER_VERSION}", f"uvicorn=={version('uvicorn')}"]


def _python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def ensure(
    progress: Callable[[str], None], venv: Path = VENV_DIR, wanted: list[str] | None = None
) -> Path:
    """The peer venv's interpreter, creating or refreshing the venv when needed.

    Args:
        wanted: what the venv holds (default: :func:`requirements`, the peer).

    Raises:
        RuntimeError: the venv or the install failed (the message says why).
    """
    wanted = requirements() if wanted is None else wanted
    marker = venv / "bench-requirements.json"
    python = _python(venv)
    if python.exists() and marker.exists() and json.loads(marker.read_text()) == wanted:
        return python
    progress(f"creating {venv.name} with {', '.join(wanted)}")
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


def ensure_job_peers(progress: Callable[[str], None]) -> Path:
    """The interpreter of the job peers' venv (Procrastinate, Celery, Dramatiq)."""
    return ensure(progress, JOB_PEERS_VENV_DIR, JOB_PEERS)


def versions(python: Path) -> dict[str, str]:
    """Versions of the peer and its web stack, as installed in its venv."""
    driver = Path(__file__).resolve().parent / "peer_driver.py"
    done = subprocess.run(
        [str(python), str(driver), "versions"], capture_output=True, text=True, check=True
    )
    found: dict[str, str] = json.loads(done.stdout)
    return found
