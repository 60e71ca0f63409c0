"""The blog example's OpenAPI document says nothing about the machine it runs on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from examples.blog.app import create_app


def test_the_document_names_no_local_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "blog-data"
    monkeypatch.setenv("SPECSTAR_DATA_DIR", str(folder))
    monkeypatch.delenv("SPECSTAR_STORAGE", raising=False)
    app = create_app()
    assert str(folder) in app.state.storage  # the console message still names it
    text = json.dumps(app.openapi())
    assert str(tmp_path) not in text
    assert "SQLite" in app.openapi()["info"]["description"]
