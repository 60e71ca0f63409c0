"""The ``sh`` examples of docs/blobs.md, docs/backup.md and docs/actions.md run with curl (and
the ``specstar`` command) against the app each page builds.

Every ``python`` block of the page is written to one module (as the snippet test runs them,
in order), served by uvicorn on a loopback port, and the ``sh`` blocks run in order in one
bash process with ``$BASE`` set to the server's URL and the module importable, failing on the
first failing command. ``RECIPES_DATA`` points both processes at one SQLite folder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from specstar.testing.services import uvicorn_server

ROOT = Path(__file__).resolve().parent.parent
PAGES = {page: ROOT / "docs" / f"{page}.md" for page in ("blobs", "backup", "actions")}
PYTHON = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
SHELL = re.compile(r"^```sh\n(.*?)^```", re.DOTALL | re.MULTILINE)

pytestmark = pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("jq") is None, reason="needs curl and jq"
)


@pytest.fixture(params=sorted(PAGES))
def page(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "RECIPES_DATA": str(tmp_path / "data"), "PYTHONPATH": str(tmp_path)}


@pytest.fixture
def base_url(tmp_path: Path, page: str) -> Iterator[str]:
    text = PAGES[page].read_text()
    blocks = [b for b in PYTHON.findall(text) if not b.startswith("# doc: skip")]
    (tmp_path / f"{page}_doc_app.py").write_text("\n\n".join(blocks))
    env = {**_env(tmp_path), "PYTHONWARNINGS": "ignore"}
    with uvicorn_server(tmp_path, f"{page}_doc_app:app", env=env) as server:
        yield server.url


def test_curl_examples_run(base_url: str, tmp_path: Path, page: str) -> None:
    blocks = SHELL.findall(PAGES[page].read_text())
    assert len(blocks) >= 2, f"docs/{page}.md lost its curl examples"
    work = tmp_path / "work"
    work.mkdir()
    script = "set -euo pipefail\n" + "\n".join(blocks)
    result = subprocess.run(
        ["bash", "-c", script],
        check=False,
        cwd=work,
        env={**_env(tmp_path), "BASE": base_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
