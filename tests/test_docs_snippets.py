"""Every ```python block of README.md and docs/*.md runs without error, so examples never rot.

Blocks of one file run in order in a shared namespace (later blocks may use earlier names).
A block whose first line is ``# doc: skip`` is not run. A file whose blocks use ``specstar.s3``
runs against a moto S3 server, reached through the standard AWS environment variables (as a
deployed service reaches AWS), with the bucket :data:`S3_BUCKET` created.
"""

from __future__ import annotations

import contextlib
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
#: The bucket the S3 examples name.
S3_BUCKET = "my-specstar-data"


def _blocks(path: Path) -> list[str]:
    return [b for b in BLOCK.findall(path.read_text()) if not b.startswith("# doc: skip")]


@contextlib.contextmanager
def _s3_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A moto S3 server the AWS SDK finds through its environment, with the examples' bucket."""
    from specstar.testing.services import fresh_bucket, moto_server, s3_options

    with moto_server() as endpoint:
        options = s3_options(endpoint)
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("AWS_DEFAULT_REGION", options["region_name"])
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", options["aws_access_key_id"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", options["aws_secret_access_key"])
        fresh_bucket(endpoint, S3_BUCKET)
        yield


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_python_snippets_run(
    path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a real module, so libraries that resolve annotations through sys.modules find the names
    module = types.ModuleType(f"doc_snippets_{path.stem.replace('-', '_')}")
    sys.modules[module.__name__] = module
    uses_s3 = any("specstar.s3" in block for block in _blocks(path))
    with contextlib.ExitStack() as stack:
        if uses_s3:
            stack.enter_context(_s3_environment(monkeypatch))
        _run_blocks(path, module)


def _run_blocks(path: Path, module: types.ModuleType) -> None:
    try:
        for number, code in enumerate(_blocks(path), start=1):
            try:
                exec(compile(code, f"{path.name}[block {number}]", "exec"), module.__dict__)
            except Exception as exc:
                pytest.fail(f"{path.name} block {number} failed: {exc!r}\n{code}")
    finally:
        del sys.modules[module.__name__]


def test_readme_has_a_runnable_example() -> None:
    assert _blocks(ROOT / "README.md"), "README.md must show a Python example"


def test_quickstart_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    from examples.quickstart import main

    main()
    out = capsys.readouterr().out
    assert "Dune" in out
    assert "Refused a duplicate" in out
