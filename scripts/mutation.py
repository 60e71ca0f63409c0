"""Mutation testing with cosmic-ray: one module at a time, each with a fast test selection.

Usage (from the repository root, in the ``mutation`` hatch environment; ``make mutation`` runs
every module)::

    python scripts/mutation.py                    # every module below
    python scripts/mutation.py guard evaluate     # some of them
    python scripts/mutation.py --list             # the modules and their test selections
    python scripts/mutation.py --rerun patch      # run the survivors again (after new tests)
    python scripts/mutation.py --report --write   # scores of the sessions, into docs/testing.md

cosmic-ray mutates the module's file in place, runs the selection, and restores the file; so
the workspace's editable installs see each mutant unchanged, and a run needs a checkout of its
own (nothing else may run tests in it meanwhile). After each module the script checks that
``git`` sees the file unchanged.

Which mutants run:

* a module may be restricted to some of its functions (the commit path of a store);
* mutants inside the annotations of functions (parameters, returns, local variables) are
  dropped before the run: every module has ``from __future__ import annotations``, so those
  annotations are never evaluated and their mutants are equivalent by construction (class
  level annotations stay: msgspec evaluates them);
* of the rest, a module samples ``sample`` mutants at random with a fixed seed (cosmic-ray
  makes every replacement of every operator, thousands in all; the sample keeps a run to
  minutes per module). The sample is the same on every run, so scores compare.

Sessions are kept under ``.mutation/`` (an interrupted run resumes where it stopped). The
first completed run of a module is kept as its "before" score; ``--rerun`` runs the survivors
again with the current tests and gives the "after" score. Survivors triaged as equivalent are
listed, with the reason, in ``scripts/mutation_triage.txt`` (module, operator, column and the
text of the mutated line, so an entry survives edits that only move lines).
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import shlex
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"
DOC = ROOT / "docs" / "testing.md"
TRIAGE = Path(__file__).resolve().parent / "mutation_triage.txt"
SEED = 19
PYTEST = (
    "python -m pytest -x -q -p no:cacheprovider -p no:randomly -n 0 --hypothesis-profile=mutation"
)
#: PostgreSQL is left out of the selections (its tests skip): an unreachable address
NO_PG = "SPECSTAR_TEST_PG_DSN=postgresql://postgres@127.0.0.1:1/none SPECSTAR_REQUIRE_SERVICES=0"
CORE = "packages/core/src/specstar/core"
SQL = "packages/storage-sql/src/specstar/sql"
CT = "packages/core/tests"
ST = "packages/storage-sql/tests"


@dataclass(frozen=True)
class Module:
    path: str
    tests: list[str]
    #: seconds a mutant may run before it counts as killed (a few times the selection's time
    #: on a busy machine, the after run's added tests included)
    timeout: float
    sample: int
    #: restrict to these functions (``Class.method`` or ``function``); empty: the whole file
    functions: tuple[str, ...] = ()
    #: the tests written to kill the survivors of the first measurement: left out of the
    #: "before" run, added to the first selection for the "after" run
    added: str = ""
    #: further commands of the "after" run (tests outside the fast selection)
    added_commands: tuple[str, ...] = ()

    def selection(self, *, after: bool) -> list[str]:
        """The commands a mutant runs; the after run's further commands come first (a mutant
        survives only if every command passes, so the order changes no outcome, but a mutant
        the added tests kill then costs their time only)."""
        if not after:
            return self.tests
        first = f"{self.tests[0]} {self.added}" if self.added else self.tests[0]
        return [*self.added_commands, first, *self.tests[1:]]


_SCOPE = f"{PYTEST} {CT}/test_memory_conformance.py -k 'scope or Scope'"
_WRITES = (
    "-k 'not query and not operator and not search and not count and not processes"
    " and not sort and not page and not property and not random and not regex'"
)

MODULES: dict[str, Module] = {
    "evaluate": Module(
        f"{CORE}/query/evaluate.py",
        [f"{PYTEST} {CT}/query/test_query_evaluate.py {CT}/query/test_query_operators.py"],
        timeout=60,
        sample=60,
        added=f"{CT}/query/test_query_evaluate_cases.py",
    ),
    "compile": Module(
        # the filter and operator compilation (the order and cursors: sql-order, the value
        # encoding: sql-values)
        f"{SQL}/_compile.py",
        [
            f"{NO_PG} {PYTEST} {ST}/test_sql_operator_pushdown.py {ST}/test_sql_statements.py"
            f" {ST}/test_sql_differential.py -k 'fixed or stored'",
        ],
        timeout=300,
        sample=10,
        # in commands of their own: the first one's -k would deselect them
        added_commands=(
            f"{NO_PG} {PYTEST} {ST}/test_sql_negation_flattening.py"
            f" {ST}/test_sql_hostile_queries.py",
            # the prefix-key path of long strings runs on PostgreSQL only
            f"{PYTEST} {ST}/test_postgres_long_values.py",
        ),
    ),
    "sql-order": Module(
        # ORDER BY and the keyset cursors of the SQL compiler
        f"{SQL}/_order.py",
        [
            # test_sqlite_sort_walk.py matches the -k by its name ("sort")
            f"{NO_PG} {PYTEST} {ST}/test_sqlite_sort_walk.py {ST}/test_sql_hostile.py"
            f" {ST}/test_sqlite_conformance.py::TestSQLiteStorage"
            " -k 'sort or page or cursor or long_value or random'",
            f"{NO_PG} {PYTEST} {ST}/test_sql_differential.py -k 'fixed or stored'",
            # the index-prefix keys of long strings are ordered on PostgreSQL only
            f"{PYTEST} {ST}/test_postgres_conformance.py::TestPostgresStorage"
            " -k 'long_value or sort or cursor'",
        ],
        timeout=120,
        sample=20,
    ),
    "sql-values": Module(
        # the normalisation and encoding of the values a query compares with
        f"{SQL}/_values.py",
        [
            f"{NO_PG} {PYTEST} {ST}/test_sql_hostile.py {ST}/test_sql_operator_pushdown.py",
            f"{NO_PG} {PYTEST} {ST}/test_sql_differential.py -k 'fixed or stored'",
            f"{NO_PG} {PYTEST} {ST}/test_sqlite_conformance.py::TestSQLiteStorage"
            " -k 'filter or operator or long_value or random or sort or cursor'",
        ],
        timeout=120,
        sample=20,
        added=f"{ST}/test_sql_integers_between_doubles.py",
    ),
    "commits": Module(
        f"{CORE}/commits.py",
        [f"{PYTEST} {CT}/test_memory_conformance.py {_WRITES}"],
        timeout=120,
        sample=30,
        added=f"{CT}/test_applied_write.py",
    ),
    "memory-commit": Module(
        f"{CORE}/memory.py",
        [f"{PYTEST} {CT}/test_memory_conformance.py {_WRITES}"],
        timeout=120,
        sample=30,
        functions=(
            "MemoryStorage.commit",
            "MemoryStorage._store_meta",
            "MemoryStorage._claim_unique",
            "MemoryStorage._release_unique",
        ),
    ),
    "sql-commit": Module(
        f"{SQL}/_commit.py",
        [f"{NO_PG} {PYTEST} {ST}/test_sqlite_conformance.py {_WRITES}"],
        timeout=240,
        sample=30,
        # SQLite and PostgreSQL: the row-lock and index-prefix branches run on PostgreSQL only
        added_commands=(
            f"{PYTEST} {ST}/test_sql_commit_paths.py",
            # what only a store with a separate payload store can get wrong
            f"{NO_PG} {PYTEST} {ST}/test_sql_payloads.py -k 'not TestSQLiteWithPayloadStore'",
            # what the database is sent: a switch's joined read, a create's one encoding
            f"{NO_PG} {PYTEST} {ST}/test_sql_statements.py {ST}/test_sql_indexed_encoding.py"
            " -k 'switch or encodes'",
        ),
        functions=(
            "Commits.commit",
            "Commits._write",
            "Commits._explain_refusal",
            "Commits._locked",
            "Commits._apply",
            "Commits._persist",
            "Commits._store_meta",
        ),
    ),
    "guard": Module(
        f"{CORE}/manager/_guard.py",
        [f"{PYTEST} {CT}/test_permissions.py {CT}/test_manager_scoped_maintenance.py", _SCOPE],
        timeout=120,
        sample=30,
        added=f"{CT}/test_scope_integrity.py {CT}/test_access_row_prediction.py",
    ),
    "access": Module(
        f"{CORE}/_access.py",
        [f"{PYTEST} {CT}/test_permissions.py", _SCOPE],
        timeout=120,
        sample=20,
        added=f"{CT}/test_access_row_prediction.py {CT}/test_field_checker_builtins.py",
    ),
    "permissions": Module(
        f"{CORE}/permissions.py",
        [f"{PYTEST} {CT}/test_permissions.py"],
        timeout=60,
        sample=20,
    ),
    "patch": Module(
        f"{CORE}/patch.py",
        [f"{PYTEST} {CT}/test_patch.py"],
        timeout=60,
        sample=20,
        added=f"{CT}/test_patch_cases.py",
    ),
}

_CONFIG = """[cosmic-ray]
module-path = "{module}"
timeout = {timeout}
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


def _lines_of(path: Path, functions: tuple[str, ...]) -> list[tuple[int, int]]:
    """Line ranges of the named functions (``Class.method`` or ``function``)."""
    tree = ast.parse(path.read_text())
    found: dict[str, tuple[int, int]] = {}
    for node in tree.body:
        items = node.body if isinstance(node, ast.ClassDef) else [node]
        prefix = f"{node.name}." if isinstance(node, ast.ClassDef) else ""
        for item in items:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                found[prefix + item.name] = (item.lineno, item.end_lineno or item.lineno)
    missing = [f for f in functions if f not in found]
    if missing:
        raise SystemExit(f"{path}: no function(s) {', '.join(missing)}")
    return [found[f] for f in functions]


def _annotation_spans(path: Path) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) positions of the annotations that are never evaluated: a function's
    parameters and return, and variables annotated inside a function body."""
    tree = ast.parse(path.read_text())
    spans: list[ast.expr] = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        a = fn.args
        for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]:
            if arg is not None and arg.annotation is not None:
                spans.append(arg.annotation)
        if fn.returns is not None:
            spans.append(fn.returns)
        for inner in ast.walk(fn):
            if isinstance(inner, ast.AnnAssign):
                spans.append(inner.annotation)
    return [
        ((n.lineno, n.col_offset), (n.end_lineno or n.lineno, n.end_col_offset or 0)) for n in spans
    ]


def _select(name: str, session: Path) -> dict[str, int]:
    """Cut a fresh session down to the mutants that run; returns what was dropped."""
    module = MODULES[name]
    path = ROOT / module.path
    ranges = _lines_of(path, module.functions) if module.functions else []
    notes = _annotation_spans(path)
    with sqlite3.connect(session) as db:
        rows = db.execute(
            "SELECT job_id, operator_name, occurrence, start_pos_row, start_pos_col,"
            " end_pos_row, end_pos_col FROM mutation_specs"
            " ORDER BY start_pos_row, start_pos_col, operator_name, occurrence"
        ).fetchall()
        total = len(rows)
        if ranges:
            rows = [r for r in rows if any(lo <= r[3] <= hi for lo, hi in ranges)]
        in_scope = len(rows)
        rows = [
            r for r in rows if not any(s <= (r[3], r[4]) and (r[5], r[6]) <= e for s, e in notes)
        ]
        annotations = in_scope - len(rows)
        keep = (
            rows if len(rows) <= module.sample else random.Random(SEED).sample(rows, module.sample)
        )
        kept = {r[0] for r in keep}
        drop = [(r[0],) for r in db.execute("SELECT job_id FROM work_items") if r[0] not in kept]
        db.executemany("DELETE FROM mutation_specs WHERE job_id = ?", drop)
        db.executemany("DELETE FROM work_items WHERE job_id = ?", drop)
        info = {
            "generated": total,
            "in_scope": in_scope,
            "annotations": annotations,
            "candidates": len(rows),
            "sampled": len(kept),
        }
        db.execute("CREATE TABLE IF NOT EXISTS specstar_meta (key TEXT PRIMARY KEY, value TEXT)")
        db.execute(
            "INSERT OR REPLACE INTO specstar_meta VALUES ('selection', ?)", (json.dumps(info),)
        )
    return info


def _meta(db: sqlite3.Connection, key: str) -> Any:
    try:
        row = db.execute("SELECT value FROM specstar_meta WHERE key = ?", (key,)).fetchone()
    except sqlite3.OperationalError:
        return None
    return json.loads(row[0]) if row else None


def _check_restored(name: str) -> None:
    path = MODULES[name].path
    diff = subprocess.run(["git", "diff", "--quiet", "--", path], cwd=ROOT, check=False)
    if diff.returncode != 0:
        raise SystemExit(f"{path} is not restored after the run: see `git diff -- {path}`")


def _exec(name: str, *, after: bool) -> None:
    module = MODULES[name]
    config = WORK / f"{name}.toml"
    command = _command(module.selection(after=after))
    config.write_text(_CONFIG.format(module=module.path, timeout=module.timeout, command=command))
    session = WORK / f"{name}.sqlite"
    try:
        subprocess.run(["cosmic-ray", "exec", str(config), str(session)], cwd=ROOT, check=True)
    finally:
        _check_restored(name)


def run(name: str, *, rerun: bool = False) -> None:
    """Measure one module: the "before" run (resuming its session), then its survivors again
    with the tests added since (``after``). ``rerun`` runs the survivors again only."""
    WORK.mkdir(exist_ok=True)
    session = WORK / f"{name}.sqlite"
    if not session.exists() or session.stat().st_size == 0:
        config = WORK / f"{name}.toml"
        config.write_text(_CONFIG.format(module=MODULES[name].path, timeout=1, command="true"))
        subprocess.run(["cosmic-ray", "init", str(config), str(session)], cwd=ROOT, check=True)
        print(f"{name}: {_select(name, session)}", flush=True)
    with sqlite3.connect(session) as db:
        measured = _meta(db, "before") is not None
    if not measured:
        _exec(name, after=False)
        with sqlite3.connect(session) as db:
            before = [list(r) for r in _outcomes(db)]
            db.execute("INSERT INTO specstar_meta VALUES ('before', ?)", (json.dumps(before),))
    module = MODULES[name]
    if (rerun or not measured) and (module.added or module.added_commands):
        # survivors run again with the added tests, but those triaged equivalent
        triaged = _triage()
        with sqlite3.connect(session) as db:
            diffs = dict(db.execute("SELECT job_id, diff FROM work_results").fetchall())
            again = [
                (r[0],)
                for r in _outcomes(db)
                if r[5] == "survived"
                and triaged.get(_key(name, r, diffs), ("",))[0] != "equivalent"
            ]
            db.executemany("DELETE FROM work_results WHERE job_id = ?", again)
    _exec(name, after=True)


def _outcomes(db: sqlite3.Connection) -> list[tuple[str, str, int, int, int, str]]:
    """(job, operator, line, column, occurrence, outcome) of every completed mutant."""
    return db.execute(
        "SELECT s.job_id, s.operator_name, s.start_pos_row, s.start_pos_col, s.occurrence,"
        " lower(r.test_outcome) FROM mutation_specs s JOIN work_results r ON r.job_id = s.job_id"
        " ORDER BY s.start_pos_row, s.start_pos_col, s.operator_name"
    ).fetchall()


#: A triaged mutant: (module, operator, column, the mutated line's text, stripped).
TriageKey = tuple[str, str, int, str]


def _triage() -> dict[TriageKey, tuple[str, str]]:
    """The triaged survivors: (module, operator, column, line text) -> (verdict, why)."""
    found: dict[TriageKey, tuple[str, str]] = {}
    for number, line in enumerate(TRIAGE.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if (
            len(parts) != 6
            or parts[0] not in MODULES
            or not parts[2].isdigit()
            or parts[4] not in ("equivalent", "open")
        ):
            raise SystemExit(
                f"{TRIAGE.name}:{number}: expected 'module, operator, column, source line,"
                " equivalent|open, why', separated by tabs"
            )
        found[(parts[0], parts[1], int(parts[2]), parts[3].strip())] = (parts[4], parts[5])
    return found


def _diff_lines(diff: str, sign: str) -> list[str]:
    """The non-blank lines a mutation diff removes (``sign`` ``-``) or adds (``+``), stripped
    (a removed decorator takes the blank line above it along: that one is not the change)."""
    return [
        ln[1:].strip()
        for ln in diff.splitlines()
        if ln.startswith(sign) and ln[:3] != sign * 3 and ln[1:].strip()
    ]


def _mutated_line(diff: str) -> str:
    """The source line a mutation diff changes, stripped (``""`` when the diff has none)."""
    return next(iter(_diff_lines(diff, "-")), "")


def _key(name: str, row: Sequence[Any], diffs: dict[str, str]) -> TriageKey:
    """The triage key of an outcome row (job, operator, line, column, occurrence, outcome)."""
    return (name, str(row[1]), int(row[3]), _mutated_line(diffs.get(str(row[0])) or ""))


@dataclass
class Score:
    name: str
    selection: dict[str, object]
    done: int
    killed: int
    equivalent: int
    before_killed: int
    #: the first run's survivors: (operator, line, column, occurrence, change, verdict)
    triage: list[tuple[str, int, int, int, str, str]]

    @property
    def survived(self) -> int:
        return self.done - self.killed - self.equivalent

    def pct(self, killed: int) -> str:
        live = self.done - self.equivalent
        return f"{100 * killed / live:.0f} %" if live else "-"


def _added(module: Module) -> str:
    """The tests the after run adds, for the triage list."""
    words = " ".join([module.added, *module.added_commands]).split()
    files = [w for w in words if w.endswith(".py")]
    return ", ".join(f"`{f.rsplit('/', 1)[-1]}`" for f in files) or "the same selection"


def _change(diff: str) -> str:
    """The changed source line of a mutation diff, ``old`` -> ``new``."""
    old = _mutated_line(diff)
    new = next(iter(_diff_lines(diff, "+")), "")
    return f"`{old}` -> `{new}`"


def score(name: str) -> Score | None:
    session = WORK / f"{name}.sqlite"
    if not session.exists():
        return None
    triaged = _triage()
    equivalent = {k for k, (verdict, _) in triaged.items() if verdict == "equivalent"}
    with sqlite3.connect(f"file:{session}?mode=ro", uri=True) as db:
        rows = _outcomes(db)
        before: list[list[Any]] = _meta(db, "before") or []
        selection: dict[str, object] = _meta(db, "selection") or {}
        diffs = dict(db.execute("SELECT job_id, diff FROM work_results").fetchall())
    now = {r[0]: r[5] for r in rows}
    live = [r for r in rows if r[5] != "incompetent"]
    survived = [r for r in live if r[5] == "survived"]
    b_live = [r for r in before if str(r[5]).lower() != "incompetent"]
    triage: list[tuple[str, int, int, int, str, str]] = []
    for r in b_live:
        if str(r[5]).lower() != "survived":
            continue
        key = _key(name, r, diffs)
        if key in equivalent:
            verdict = f"equivalent: {triaged[key][1]}"
        elif now.get(r[0]) == "killed":
            verdict = f"killed by the after run ({_added(MODULES[name])})"
        elif key in triaged:
            verdict = f"**survives**: {triaged[key][1]}"
        else:
            verdict = "**survives**, not triaged"
        change = _change(diffs.get(r[0]) or "")
        triage.append((str(r[1]), int(r[2]), int(r[3]), int(r[4]), change, verdict))
    return Score(
        name=name,
        selection=selection,
        done=len(live),
        killed=len(live) - len(survived),
        equivalent=sum(1 for r in survived if _key(name, r, diffs) in equivalent),
        before_killed=sum(1 for r in b_live if str(r[5]).lower() != "survived"),
        triage=triage,
    )


def _block(text: str, marker: str) -> str:
    """The text between a pair of markers of docs/testing.md."""
    found = re.search(rf"<!-- {marker} -->\n(.*?)<!-- /{marker} -->", text, flags=re.S)
    return found.group(1) if found else ""


def _replace_block(text: str, marker: str, body: str) -> str:
    return re.sub(
        rf"(<!-- {marker} -->\n).*?(<!-- /{marker} -->)",
        lambda m: m.group(1) + body + "\n" + m.group(2),
        text,
        flags=re.S,
    )


def _kept(lines: str, pattern: str, measured: set[str]) -> dict[str, list[str]]:
    """The lines of a block per module (named by ``pattern``'s group), but those of the
    modules measured now: a run of some modules keeps what the others wrote before."""
    out: dict[str, list[str]] = {}
    for line in lines.splitlines():
        found = re.match(pattern, line)
        if found and found.group(1) in MODULES and found.group(1) not in measured:
            out.setdefault(found.group(1), []).append(line)
    return out


def write_scores(scores: list[Score]) -> None:
    """Replace the rows and the triage lines of the measured modules in docs/testing.md
    (between their markers); the other modules' lines stay. Modules keep the order of
    :data:`MODULES`."""
    text = DOC.read_text()
    measured = {s.name for s in scores}
    rows = _kept(_block(text, "mutation-scores"), r"\| `[^`]*` \(([\w-]+)\) \|", measured)
    notes = _kept(_block(text, "mutation-triage"), r"\* ([\w-]+) \d+:\d+ ", measured)
    for s in scores:
        sel = s.selection
        rows[s.name] = [
            f"| `{MODULES[s.name].path.split('/src/')[-1]}` ({s.name})"
            f" | {sel.get('in_scope', '?')} ({sel.get('annotations', '?')})"
            f" | {s.done} of {sel.get('candidates', '?')} | {s.before_killed} | {s.killed}"
            f" | {s.equivalent} | {s.survived}"
            f" | {s.pct(s.before_killed)} | {s.pct(s.killed)} |"
        ]
        notes[s.name] = [
            f"* {s.name} {row}:{col} {op.removeprefix('core/')} {change}: {verdict}"
            for op, row, col, _occ, change, verdict in s.triage
        ]
    lines = [
        "| module | mutants (annotations dropped) | run | killed before | killed after"
        " | equivalent | survived | score before | score after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    triage: list[str] = []
    for name in MODULES:
        lines.extend(rows.get(name, []))
        triage.extend(notes.get(name, []))
    text = _replace_block(text, "mutation-scores", "\n".join(lines))
    DOC.write_text(_replace_block(text, "mutation-triage", "\n".join(triage) or "(none)"))


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"some of: {', '.join(MODULES)}")
    parser.add_argument("--list", action="store_true", help="print modules and selections")
    parser.add_argument("--rerun", action="store_true", help="run the survivors again")
    parser.add_argument("--report", action="store_true", help="only score the sessions")
    parser.add_argument("--write", action="store_true", help="write scores to docs/testing.md")
    args = parser.parse_args()
    if args.list:
        for name, m in MODULES.items():
            print(f"{name}: {m.path} (sample {m.sample}, timeout {m.timeout:g} s)")
            print("  " + "\n  ".join(m.selection(after=True)))
        return 0
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s): {', '.join(unknown)}")
    names = args.modules or list(MODULES)
    if not args.report:
        for name in names:
            run(name, rerun=args.rerun)
    scores = [s for s in (score(n) for n in names) if s is not None]
    for s in scores:
        print(
            f"{s.name}: {s.done} mutants, {s.killed} killed, {s.equivalent} equivalent,"
            f" {s.survived} survived (before: {s.before_killed} killed)"
        )
        for op, row, col, occ, change, verdict in s.triage:
            print(f"  {s.name} {op} {row}:{col} {occ} {change}: {verdict}")
    if args.write:
        write_scores(scores)
    return 0


if __name__ == "__main__":
    sys.exit(main())
