"""The ``sh`` examples of docs/blobs.md and docs/actions.md run with curl against the app each
page builds.

Every ``python`` block of the page is written to one module (as the snippet test runs them,
in order), served by uvicorn on a loopback port, and the ``sh`` blocks run in order in one
bash process with ``$BASE`` set to the server's URL, failing on the first failing command.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The pages with curl examples, and how many ``sh`` blocks each must keep.
PAGES = {"blobs.md": 3, "actions.md": 3}
PYTHON = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
SHELL = re.compile(r"^```sh\n(.*?)^```", re.DOTALL | re.MULTILINE)

pytestmark = pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("jq") is None, reason="needs curl and jq"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def base_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    page = ROOT / "docs" / request.param
    blocks = [b for b in PYTHON.findall(page.read_text()) if not b.startswith("# doc: skip")]
    (tmp_path / "doc_app.py").write_text("\n\n".join(blocks))
    port = _free_port()
    log = tmp_path / "uvicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--app-dir",
                str(tmp_path),
                "doc_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"uvicorn did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("base_url", sorted(PAGES), indirect=True)
def test_curl_examples_run(base_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    name = request.node.callspec.params["base_url"]
    blocks = SHELL.findall((ROOT / "docs" / name).read_text())
    assert len(blocks) >= PAGES[name], f"docs/{name} lost its curl examples"
    work = tmp_path / "work"
    work.mkdir()
    script = "set -euo pipefail\n" + "\n".join(blocks)
    result = subprocess.run(
        ["bash", "-c", script],
        check=False,
        cwd=work,
        env={**os.environ, "BASE": base_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
