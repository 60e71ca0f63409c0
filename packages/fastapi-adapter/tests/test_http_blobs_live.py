"""Large files through a real uvicorn server: the server's memory stays flat.

The file size is ``SPECSTAR_TEST_UPLOAD_MB`` (20 by default); the server's peak resident
memory (``VmHWM``) may grow by less than 32 MiB over its size before the transfers, whatever
the file size, since every transfer is streamed through a bounded buffer.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from specstar.testing.services import uvicorn_server

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="reads memory figures from /proc"
)

APP = textwrap.dedent(
    """
    import os
    from typing import Annotated

    import msgspec
    from fastapi import FastAPI, Header

    from specstar.core import Binary
    from specstar.fastapi import DependencyProvider, SpecStar
    from specstar.sql import SQLiteStorageFactory


    class Video(msgspec.Struct, kw_only=True):
        title: str
        file: Binary


    def user(x_user: Annotated[str | None, Header()] = None) -> str | None:
        return x_user


    crud = SpecStar(
        storage_factory=SQLiteStorageFactory(os.environ["LIVE_DATA"]),
        dependency_provider=DependencyProvider(get_user=user),
    )
    crud.add_model(Video)
    app = FastAPI()
    crud.apply(app)
    """
)

MIB = 1024 * 1024
SIZE_MB = int(os.environ.get("SPECSTAR_TEST_UPLOAD_MB", "20"))
GROWTH_LIMIT = 32 * MIB


def _memory(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


def _reset_peak(pid: int) -> None:
    """Make ``VmHWM`` start again from the current RSS (Linux ``clear_refs`` 5), so the peak
    measured is the transfers' own; where that is not allowed the peak since start counts,
    which only makes the check stricter."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


class Server:
    def __init__(self, url: str, pid: int) -> None:
        self.url = url
        self.pid = pid


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder: Path = tmp_path_factory.mktemp("live-blobs")
    (folder / "blob_app.py").write_text(APP)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "LIVE_DATA": str(folder / "data")}
    with uvicorn_server(folder, "blob_app:app", env=env) as live:
        yield Server(live.url, live.pid)


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("big") / "big.bin"
    digest = hashlib.sha256()
    block = os.urandom(MIB)
    with path.open("wb") as f:
        for n in range(SIZE_MB):
            chunk = block[n % 7 :] + block[: n % 7]  # every MiB differs
            digest.update(chunk)
            f.write(chunk)
    return path, digest.hexdigest()


def _download_digest(client: httpx.Client, url: str) -> str:
    digest = hashlib.sha256()
    with client.stream("GET", url) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-length"] == str(SIZE_MB * MIB)
        for chunk in r.iter_bytes():
            digest.update(chunk)
    return digest.hexdigest()


def test_large_files_stream_with_flat_server_memory(
    server: Server, big_file: tuple[Path, str]
) -> None:
    path, sha = big_file
    headers = {"X-User": "ann"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=300) as c:
        # warm up every route once so their imports and caches are in the baseline
        c.post("/blobs/upload", files={"file": ("w", b"warm", "text/plain")})
        _reset_peak(server.pid)
        baseline = _memory(server.pid, "VmRSS")

        with path.open("rb") as f:  # multipart form, streamed from the file
            r = c.post("/blobs/upload", files={"file": ("big.bin", f, "video/mp4")})
        assert r.status_code == 201, r.text
        assert r.json()["file_id"] == sha

        r = c.post(  # an upload session, parts of 8 MiB
            "/blobs/upload-sessions",
            json={"size": SIZE_MB * MIB, "sha256": sha, "content_type": "video/mp4"},
        )
        upload_id = r.json()["upload_id"]
        with path.open("rb") as f:
            number = 0
            while chunk := f.read(8 * MIB):
                number += 1
                r = c.put(
                    f"/blobs/upload-sessions/{upload_id}/content?part_number={number}",
                    content=chunk,
                )
                assert r.status_code == 200, r.text
        r = c.post(f"/blobs/upload-sessions/{upload_id}/finalize")
        assert r.status_code == 200, r.text
        assert r.json()["file_id"] == sha

        r = c.post("/video", json={"title": "big", "file": {"file_id": sha}})
        assert r.status_code == 201, r.text
        rid = r.json()["resource_id"]
        assert _download_digest(c, f"/blobs/{sha}") == sha
        assert _download_digest(c, f"/video/{rid}/blobs/{sha}") == sha

        peak = _memory(server.pid, "VmHWM")
    growth = peak - baseline
    print(
        f"\nserver RSS: baseline {baseline / MIB:.1f} MiB, peak {peak / MIB:.1f} MiB, "
        f"growth {growth / MIB:.1f} MiB for {SIZE_MB} MiB files"
    )
    assert growth < GROWTH_LIMIT, f"server memory grew by {growth / MIB:.1f} MiB"
