"""Fixtures for the generated-client tests: a live blog server, the Node toolchain and the
step reports of the client scenarios.

A scenario (``blog_scenario*.py``/``.ts``) runs every step against a live server and prints
one JSON line per step. Each step is then one test (see :meth:`Scenario.expect`), so a broken
step names itself instead of hiding behind the first one.

The TypeScript tools (openapi-typescript, openapi-fetch, orval, axios, typescript; pinned in
``package.json`` beside this file) are installed with npm into ``.cache/client-checks/`` at
the repository root, once, and reused while ``package.json`` is unchanged. Without Node or
npm, or when the install fails, the TypeScript tests skip, or fail when
``SPECSTAR_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NoReturn

import httpx
import pytest

from specstar.testing.services import live_server, services_required

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NODE_CACHE = ROOT / ".cache" / "client-checks"

#: The steps every scenario reports, in order (the scenarios name the same ones).
STEPS: tuple[str, ...] = (
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


def unavailable(message: str) -> NoReturn:
    """Skip the test, or fail it when services are required."""
    if services_required():
        pytest.fail(f"{message} (SPECSTAR_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message)


def run(
    command: Sequence[str | Path], cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run a command; its output (stdout then stderr) is in ``stdout``."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("NODE_OPTIONS", None)
    return subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )


# -- a live blog server -----------------------------------------------------------------------


@contextlib.contextmanager
def blog_server(folder: Path) -> Iterator[str]:
    """``python -m examples.blog`` on a free loopback port with its SQLite data in ``folder``."""
    env = {**os.environ, "SPECSTAR_DATA_DIR": str(folder / "data"), "PYTHONWARNINGS": "ignore"}
    env.pop("SPECSTAR_STORAGE", None)
    command = [sys.executable, "-m", "examples.blog", "--host", "127.0.0.1", "--port", "{port}"]
    with live_server(
        command,
        cwd=ROOT,
        log=folder / "server.log",
        env=env,
        name="the blog server",
        start_timeout=60,
    ) as server:
        yield server.url


def save_openapi(base: str, path: Path) -> dict[str, Any]:
    """The live server's OpenAPI document, also written to ``path``."""
    document: dict[str, Any] = httpx.get(base + "/openapi.json", timeout=10).json()
    path.write_text(json.dumps(document, indent=1))
    return document


# -- step reports -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StepReport:
    """What a scenario said about one step."""

    step: str
    ok: bool
    detail: str


class Scenario:
    """The step reports of one scenario run (or why the run itself failed)."""

    def __init__(self, label: str, result: subprocess.CompletedProcess[str] | None) -> None:
        self.label = label
        self.steps: dict[str, StepReport] = {}
        self.error = ""
        if result is None:
            self.error = f"{label}: the scenario did not run"
            return
        for line in result.stdout.splitlines():
            if line.startswith('{"step"'):
                report = json.loads(line)
                self.steps[report["step"]] = StepReport(**report)
        if list(self.steps) != list(STEPS) or result.returncode != 0:
            self.error = (
                f"{label}: exit status {result.returncode}, steps reported "
                f"{list(self.steps)}, expected {list(STEPS)}:\n{result.stdout[-4000:]}"
            )

    def expect(self, step: str) -> None:
        """Pass when ``step`` succeeded; fail the test with the step's report otherwise."""
        if self.error:
            pytest.fail(self.error, pytrace=False)
        report = self.steps[step]
        if not report.ok:
            pytest.fail(f"{self.label} {step}: {report.detail}", pytrace=False)


def expect_clean(label: str, result: subprocess.CompletedProcess[str]) -> None:
    """Pass when a checker (mypy, tsc) exited 0; fail the test with its output otherwise."""
    if result.returncode != 0:
        pytest.fail(f"{label}:\n{result.stdout[-6000:]}", pytrace=False)


# -- the Node toolchain -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def node_tools() -> Path:
    """``node_modules`` with the pinned TypeScript tools, installed once into ``.cache/``."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        unavailable("the TypeScript client tests need node and npm on PATH")
    version = run([node, "--version"], ROOT).stdout.strip()
    if not re.match(r"v(1[89]|[2-9]\d)\.", version):
        unavailable(f"the TypeScript client tests need Node 18 or later, found {version}")
    manifest = (HERE / "package.json").read_bytes()
    stamp = hashlib.sha256(manifest).hexdigest()
    NODE_CACHE.mkdir(parents=True, exist_ok=True)
    with (NODE_CACHE.parent / "client-checks.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = NODE_CACHE / "installed.sha256"
        modules = NODE_CACHE / "node_modules"
        if not (marker.exists() and marker.read_text() == stamp and modules.is_dir()):
            marker.unlink(missing_ok=True)
            (NODE_CACHE / "package.json").write_bytes(manifest)
            result = run(
                [
                    npm,
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--no-package-lock",
                    "--ignore-scripts",
                ],
                NODE_CACHE,
                timeout=600,
            )
            if result.returncode != 0:
                unavailable(f"npm install of the client tools failed:\n{result.stdout[-3000:]}")
            marker.write_text(stamp)
    return modules


def node_project(folder: Path, modules: Path) -> Path:
    """A TypeScript project in ``folder``: the pinned tools linked in, strict ``tsconfig``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "node_modules").symlink_to(modules, target_is_directory=True)
    shutil.copy(HERE / "tsconfig.json", folder / "tsconfig.json")
    (folder / "package.json").write_text('{"private": true, "type": "module"}\n')
    return folder


def node_bin(modules: Path, package: str, name: str | None = None) -> list[str]:
    """The command that runs an installed package's executable (``bin`` in its manifest)."""
    manifest = json.loads((modules / package / "package.json").read_text())
    scripts = manifest["bin"]
    script = scripts if isinstance(scripts, str) else scripts[name or package]
    return [shutil.which("node") or "node", str(modules / package / script)]


@pytest.fixture(scope="session")
def harness() -> SimpleNamespace:
    """This module's helpers for the test modules (a conftest cannot be imported by them)."""
    return SimpleNamespace(
        HERE=HERE,
        STEPS=STEPS,
        Scenario=Scenario,
        blog_server=blog_server,
        expect_clean=expect_clean,
        node_bin=node_bin,
        node_project=node_project,
        run=run,
        save_openapi=save_openapi,
    )
