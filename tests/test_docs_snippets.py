"""Every ```python block of README.md and docs/*.md runs without error, so examples never rot.

Blocks of one file run in order in a shared namespace (later blocks may use earlier names).
A block whose first line is ``# doc: skip`` is not run.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _blocks(path: Path) -> list[str]:
    return [b for b in BLOCK.findall(path.read_text()) if not b.startswith("# doc: skip")]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_python_snippets_run(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a real module, so libraries that resolve annotations through sys.modules find the names
    module = types.ModuleType(f"doc_snippets_{path.stem.replace('-', '_')}")
    sys.modules[module.__name__] = module
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
