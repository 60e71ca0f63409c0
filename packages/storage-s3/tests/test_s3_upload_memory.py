"""A large upload to S3 through a real uvicorn server: the server's memory stays flat.

The app keeps everything in S3 (``S3StorageFactory``: records, upload sessions and blobs on
the test server). The file (``SPECSTAR_TEST_S3_UPLOAD_MB`` MiB: 200 by default, about a
minute; CI sends 64) goes up as a raw streamed body (``POST /blobs/upload``, chunked, never
held whole by the client either) and is read back through a download; the server's peak
resident memory (``VmHWM``) may grow by less than 32 MiB over its size before the transfer:
the body is streamed into S3 multipart parts of 5 MiB, one in flight, whatever the file's
size. (Measured: 14.4 MiB of growth for 200 MiB.)
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

pytestmark = [
    pytest.mark.skipif(
        not Path("/proc/self/status").exists(), reason="reads memory figures from /proc"
    ),
    pytest.mark.slow,
]

APP = textwrap.dedent(
    """
    import os
    from typing import Annotated

    import msgspec
    from fastapi import FastAPI, Header

    from specstar.core import Binary
    from specstar.fastapi import DependencyProvider, SpecStar
    from specstar.s3 import S3StorageFactory


    class Video(msgspec.Struct, kw_only=True):
        title: str
        file: Binary


    def user(x_user: Annotated[str | None, Header()] = None) -> str | None:
        return x_user


    factory = S3StorageFactory(
        os.environ["LIVE_BUCKET"],
        "app/",
        endpoint_url=os.environ["LIVE_S3"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    crud = SpecStar(storage_factory=factory, dependency_provider=DependencyProvider(get_user=user))
    crud.add_model(Video)
    app = FastAPI()
    crud.apply(app)
    """
)

MIB = 1024 * 1024
SIZE_MB = int(os.environ.get("SPECSTAR_TEST_S3_UPLOAD_MB", "200"))
GROWTH_LIMIT = 32 * MIB


def _memory(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


def _reset_peak(pid: int) -> None:
    """Make ``VmHWM`` start again from the current RSS (Linux ``clear_refs`` 5); where that is
    not allowed the peak since start counts, which only makes the check stricter."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


@pytest.fixture
def server(tmp_path: Path, s3_endpoint: str, bucket: str) -> Iterator[tuple[str, int]]:
    (tmp_path / "s3_blob_app.py").write_text(APP)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "LIVE_BUCKET": bucket, "LIVE_S3": s3_endpoint}
    with uvicorn_server(tmp_path, "s3_blob_app:app", env=env) as live:
        yield live.url, live.pid


def _content(size_mb: int, digest: hashlib._Hash) -> Iterator[bytes]:
    """``size_mb`` MiB, every MiB different, made as it is sent (the test holds 1 MiB)."""
    block = os.urandom(MIB)
    for n in range(size_mb):
        chunk = block[n % 7 :] + block[: n % 7]
        digest.update(chunk)
        yield chunk


def test_a_large_streamed_upload_to_s3_keeps_server_memory_flat(
    server: tuple[str, int],
) -> None:
    url, pid = server
    with httpx.Client(base_url=url, headers={"X-User": "ann"}, timeout=600) as c:
        # warm up the route, the S3 client and a multipart write (over one part) once, so
        # their imports and buffers are in the baseline
        warm = os.urandom(6 * MIB)
        r = c.post("/blobs/upload", content=warm, headers={"Content-Type": "video/mp4"})
        assert r.status_code == 201, r.text
        _reset_peak(pid)
        baseline = _memory(pid, "VmRSS")

        digest = hashlib.sha256()
        r = c.post(
            "/blobs/upload",
            content=_content(SIZE_MB, digest),
            headers={"Content-Type": "video/mp4"},
        )
        assert r.status_code == 201, r.text
        sha = digest.hexdigest()
        assert r.json() == {"file_id": sha, "size": SIZE_MB * MIB, "content_type": "video/mp4"}

        r = c.post("/video", json={"title": "big", "file": {"file_id": sha}})
        assert r.status_code == 201, r.text
        back = hashlib.sha256()
        with c.stream("GET", f"/video/{r.json()['resource_id']}/blobs/{sha}") as download:
            assert download.status_code == 200
            for chunk in download.iter_bytes():
                back.update(chunk)
        assert back.hexdigest() == sha
        peak = _memory(pid, "VmHWM")
    growth = peak - baseline
    print(
        f"\nserver RSS: baseline {baseline / MIB:.1f} MiB, peak {peak / MIB:.1f} MiB, "
        f"growth {growth / MIB:.1f} MiB for a {SIZE_MB} MiB upload to S3"
    )
    assert growth < GROWTH_LIMIT, f"server memory grew by {growth / MIB:.1f} MiB"
