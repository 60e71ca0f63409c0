"""Mutation testing with cosmic-ray: one module at a time, each with a fast test selection.

Usage (from the repository root, in the ``mutation`` hatch environment; ``make mutation`` runs
every module)::

    python scripts/mutation.py                    # every module below
    python scripts/mutation.py guard evaluate     # some of them
    python scripts/mutation.py --list             # the modules and their test selections

cosmic-ray mutates the module's file in place, runs the selection, and restores the file; so
the workspace's editable installs see each mutant unchanged, and a run needs a checkout of its
own (nothing else may run tests in it meanwhile). Sessions are kept under ``.mutation/`` (an
interrupted run resumes where it stopped); the scores print at the end, and ``--write`` puts
them into the table between the markers of docs/testing.md.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"
DOC = ROOT / "docs" / "testing.md"
PYTEST = "python -m pytest -x -q -p no:cacheprovider -n 0 --hypothesis-profile=mutation"
CORE = "packages/core/src/specstar/core"
SQL = "packages/storage-sql/src/specstar/sql"

#: name -> (module file, test commands run one after the other; any failure kills the mutant)
MODULES: dict[str, tuple[str, list[str]]] = {
    "guard": (
        f"{CORE}/manager/_guard.py",
        [
            f"{PYTEST} packages/core/tests/test_permissions.py"
            " packages/core/tests/test_manager_scoped_maintenance.py",
            f"{PYTEST} packages/core/tests/test_memory_conformance.py -k scope",
        ],
    ),
    "access": (
        f"{CORE}/_access.py",
        [
            f"{PYTEST} packages/core/tests/test_permissions.py",
            f"{PYTEST} packages/core/tests/test_memory_conformance.py -k scope",
        ],
    ),
    "permissions": (
        f"{CORE}/permissions.py",
        [f"{PYTEST} packages/core/tests/test_permissions.py"],
    ),
    "evaluate": (
        f"{CORE}/query/evaluate.py",
        [f"{PYTEST} packages/core/tests/query/test_query_evaluate.py"],
    ),
    "compile": (
        f"{SQL}/_compile.py",
        [f"{PYTEST} packages/storage-sql/tests/test_sql_differential.py"],
    ),
    "commits": (
        f"{CORE}/commits.py",
        [f"{PYTEST} packages/core/tests/test_memory_conformance.py -k 'not processes'"],
    ),
    "patch": (f"{CORE}/patch.py", [f"{PYTEST} packages/core/tests/test_patch.py"]),
}

_CONFIG = """[cosmic-ray]
module-path = "{module}"
timeout = 300.0
excluded-modules = []
test-command = "{command}"

[cosmic-ray.distributor]
name = "local"
"""


def _command(tests: list[str]) -> str:
    """One command running every selection, failing as soon as one fails (a selection that
    matches no test, pytest's exit code 5, is not a failure)."""
    script = "; ".join(f"{t}; r=$?; [ $r = 0 ] || [ $r = 5 ] || exit 1" for t in tests)
    return shlex.join(["sh", "-c", script]).replace("\\", "\\\\").replace('"', '\\"')


def run(name: str) -> tuple[int, int]:
    """Mutate one module; returns (mutants, survivors)."""
    module, tests = MODULES[name]
    WORK.mkdir(exist_ok=True)
    config = WORK / f"{name}.toml"
    session = WORK / f"{name}.sqlite"
    config.write_text(_CONFIG.format(module=module, command=_command(tests)))
    if not session.exists() or session.stat().st_size == 0:
        subprocess.run(["cosmic-ray", "init", str(config), str(session)], cwd=ROOT, check=True)
    subprocess.run(["cosmic-ray", "exec", str(config), str(session)], cwd=ROOT, check=True)
    return score(session)


def score(session: Path) -> tuple[int, int]:
    """(completed mutants, survivors) of a session."""
    with sqlite3.connect(f"file:{session}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT test_outcome FROM work_results").fetchall()
    outcomes = [r[0] for r in rows]
    return len(outcomes), sum(1 for o in outcomes if str(o).lower().endswith("survived"))


def write_scores(scores: dict[str, tuple[int, int]]) -> None:
    """Replace the measured rows in docs/testing.md (between the mutation markers)."""
    text = DOC.read_text()
    lines = ["| module | mutants | killed | survived | score |", "|---|---|---|---|---|"]
    for name, (total, survived) in scores.items():
        killed = total - survived
        pct = f"{100 * killed / total:.1f} %" if total else "-"
        lines.append(f"| `{MODULES[name][0]}` | {total} | {killed} | {survived} | {pct} |")
    table = "\n".join(lines)
    new = re.sub(
        r"(<!-- mutation-scores -->\n).*?(\n<!-- /mutation-scores -->)",
        lambda m: m.group(1) + table + m.group(2),
        text,
        flags=re.S,
    )
    DOC.write_text(new)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"some of: {', '.join(MODULES)}")
    parser.add_argument("--list", action="store_true", help="print modules and selections")
    parser.add_argument("--write", action="store_true", help="write scores to docs/testing.md")
    args = parser.parse_args()
    if args.list:
        for name, (module, tests) in MODULES.items():
            print(f"{name}: {module}\n  " + "\n  ".join(tests))
        return 0
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s): {', '.join(unknown)}")
    scores = {name: run(name) for name in args.modules or MODULES}
    for name, (total, survived) in scores.items():
        print(f"{name}: {total} mutants, {survived} survived")
    if args.write:
        write_scores(scores)
    return 0


if __name__ == "__main__":
    sys.exit(main())
