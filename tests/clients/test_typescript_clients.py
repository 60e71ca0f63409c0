"""TypeScript clients generated from the blog's OpenAPI with default settings, against a live
server: the types of openapi-typescript (called through openapi-fetch) and orval's axios
client. Each, with its scenario (``blog_scenario_fetch.ts``, ``blog_scenario_orval.ts``),
must pass ``tsc --strict``, and every step of the scenario must work.

The tools come from npm (pinned in ``package.json``, cached under ``.cache/``); without Node
or npm these tests skip, or fail when ``SPECSTAR_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from subprocess import CompletedProcess
from types import SimpleNamespace
from typing import Any

import pytest

pytestmark = pytest.mark.slow

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


def _generate(client: str, project: Path, harness: SimpleNamespace, modules: Path) -> None:
    if client == "fetch":
        command = [
            *harness.node_bin(modules, "openapi-typescript"),
            "openapi.json",
            "-o",
            "fetch/schema.ts",
        ]
    else:
        command = [
            *harness.node_bin(modules, "orval"),
            "--input",
            "openapi.json",
            "--output",
            "orval/blog.ts",
        ]
    result = harness.run(command, project)
    if result.returncode != 0:
        pytest.fail(f"{client}: generation failed:\n{result.stdout}", pytrace=False)


@pytest.fixture(scope="module", params=["fetch", "orval"])
def client_run(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    node_tools: Path,
    harness: SimpleNamespace,
) -> Iterator[tuple[str, CompletedProcess[str], Any]]:
    """Generate one client from a live server's document, type-check it with its scenario,
    compile and run the scenario: (client, tsc output, step reports)."""
    client: str = request.param
    folder = tmp_path_factory.mktemp(f"ts-{client}")
    project = harness.node_project(folder / "project", node_tools)
    tsc = harness.node_bin(node_tools, "typescript", "tsc")
    with harness.blog_server(folder) as base:
        harness.save_openapi(base, project / "openapi.json")
        _generate(client, project, harness, node_tools)
        shutil.copy(harness.HERE / f"blog_scenario_{client}.ts", project / f"scenario_{client}.ts")
        check = harness.run([*tsc, "-p", "tsconfig.json", "--noEmit"], project)
        # emit JavaScript even with type errors, so the run reports on every step
        harness.run([*tsc, "-p", "tsconfig.json", "--noEmitOnError", "false"], project)
        script = project / "out" / f"scenario_{client}.js"
        if not script.exists():
            pytest.fail(f"{client}: tsc emitted no scenario:\n{check.stdout}", pytrace=False)
        result = harness.run([shutil.which("node") or "node", script, base], project)
        yield client, check, harness.Scenario(f"{client} client", result)


def test_every_step_is_tested(harness: SimpleNamespace) -> None:
    assert harness.STEPS == STEPS


def test_client_and_scenario_pass_tsc_strict(
    client_run: tuple[str, CompletedProcess[str], Any], harness: SimpleNamespace
) -> None:
    client, check, _ = client_run
    harness.expect_clean(f"tsc --strict ({client})", check)


@pytest.mark.parametrize("step", STEPS)
def test_scenario_step(step: str, client_run: tuple[str, CompletedProcess[str], Any]) -> None:
    _, _, scenario = client_run
    scenario.expect(step)
