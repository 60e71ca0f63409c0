"""The Python client openapi-python-client generates from the blog's OpenAPI, against a live
server: it generates cleanly, type-checks with ``mypy --strict`` (the client, and the scenario
using it), and every step of the blog scenario (``blog_scenario.py``) works through it.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from subprocess import CompletedProcess
from types import SimpleNamespace
from typing import Any

import pytest

pytestmark = pytest.mark.slow

PACKAGE = "spec_star_blog_client"
STEPS = (
    "create",
    "get",
    "datetimes",
    "list_filters",
    "cursor_paging",
    "put_if_match",
    "json_patch",
    "merge_patch",
    "draft_stale_etag",
    "delete",
    "restore",
    "switch",
    "problems",
    "validation_every_error",
)


@pytest.fixture(scope="module")
def generated(
    tmp_path_factory: pytest.TempPathFactory, harness: SimpleNamespace
) -> Iterator[tuple[Path, CompletedProcess[str], Any]]:
    """Generate the client from a live server's document and run the scenario through it."""
    folder = tmp_path_factory.mktemp("python-client")
    with harness.blog_server(folder) as base:
        spec = folder / "openapi.json"
        harness.save_openapi(base, spec)
        # this generator reads no NDJSON (the migration stream): it is handed over as text
        config = folder / "config.yaml"
        config.write_text("content_type_overrides:\n  application/x-ndjson: text/plain\n")
        out = folder / "client"
        generation = harness.run(
            [
                sys.executable,
                "-m",
                "openapi_python_client",
                "generate",
                "--path",
                spec,
                "--output-path",
                out,
                "--config",
                config,
            ],
            folder,
        )
        if generation.returncode != 0 or not (out / PACKAGE).is_dir():
            pytest.fail(f"openapi-python-client failed:\n{generation.stdout}", pytrace=False)
        shutil.copy(harness.HERE / "blog_scenario.py", out / "blog_scenario.py")
        result = harness.run([sys.executable, "blog_scenario.py", base], out)
        yield out, generation, harness.Scenario("python client", result)


def _mypy(harness: SimpleNamespace, folder: Path, *args: str) -> CompletedProcess[str]:
    config = folder / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\n")
    cache = folder / ".mypy_cache"
    result: CompletedProcess[str] = harness.run(
        [sys.executable, "-m", "mypy", "--config-file", config, "--cache-dir", cache, *args],
        folder,
    )
    return result


def test_every_step_is_tested(harness: SimpleNamespace) -> None:
    assert harness.STEPS == STEPS


def test_client_generates_without_warnings(generated: tuple[Path, Any, Any]) -> None:
    _, generation, _ = generated
    assert "Warning" not in generation.stdout, generation.stdout
    assert "Error" not in generation.stdout, generation.stdout


def test_generated_client_passes_mypy_strict(
    generated: tuple[Path, Any, Any], harness: SimpleNamespace
) -> None:
    folder, _, _ = generated
    result = _mypy(harness, folder, "-p", PACKAGE)
    harness.expect_clean("mypy --strict on the client", result)


def test_scenario_passes_mypy_strict_against_the_client(
    generated: tuple[Path, Any, Any], harness: SimpleNamespace
) -> None:
    """The scenario's own code, type-checked against the client's types (the client's own
    errors are the test above)."""
    folder, _, _ = generated
    result = _mypy(harness, folder, "--follow-imports=silent", "blog_scenario.py")
    harness.expect_clean("mypy --strict on the scenario", result)


@pytest.mark.parametrize("step", STEPS)
def test_scenario_step(step: str, generated: tuple[Path, Any, Any]) -> None:
    _, _, scenario = generated
    scenario.expect(step)
