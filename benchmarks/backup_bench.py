"""The backup section: ``load`` and ``dump`` of N books x 3 revisions, SpecStar side by side
with the PyPI ``specstar`` package (the peer) and with ``pg_dump``/``pg_restore``.

For each size, one after the other on the same machine in the same run, each side in a process
of its own (so each phase's peak memory is its own):

* SpecStar (``backup_ours.py``): ``load`` of a generated archive into an empty SQLite and
  PostgreSQL store, then ``dump`` of that store; on PostgreSQL then ``pg_dump -Fc`` of the
  schema the load filled and ``pg_restore`` of it into an empty one;
* the peer (``peer_backup_driver.py``, in its venv): the same books made through its API
  (``create`` and two ``update`` calls each) and exported once, then in a fresh process per
  backend ``SpecStar.load`` of that archive into an empty store and ``SpecStar.dump`` of it.

Each phase: wall time, books per second, and the growth of the process's peak resident set
over its start (target for SpecStar: < :data:`RSS_TARGET_MIB` MiB, whatever N: both stream).

``python -m benchmarks.backup_bench [--quick] [--sizes 2k,10k] [--merge results/latest.json]``
runs the section alone; ``run.py`` runs it as part of ``make bench`` / ``make bench-quick``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import services
from .backup_rows import REVISIONS

if TYPE_CHECKING:
    from .runner import Runner

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent

BACKENDS = ("sqlite", "postgres")
IMPLS = ("ours", "peer")
FULL_SIZES = [2000, 10000]
QUICK_SIZES = [1000]
#: SpecStar's peak memory growth per phase must stay under this, whatever N.
RSS_TARGET_MIB = 64


def _failed(
    impl: str, backends: list[str], n: int, status: str, reason: str
) -> list[dict[str, Any]]:
    return [
        {"impl": impl, "backend": b, "phase": p, "resources": n, "status": status, "reason": reason}
        for b in backends
        for p in ("load", "dump")
    ]


def _ours(runner: Runner, n: int, backends: list[str], timeout: float) -> list[dict[str, Any]]:
    from .harness import error_summary, log, run_process

    out = runner.workdir / f"backup-ours-{n}.json"
    log(f"backup: SpecStar, {n:,} books x {REVISIONS} revisions on {', '.join(backends)}")
    cmd = [sys.executable, "-m", "benchmarks.backup_ours", str(n), str(out)]
    code, tail = run_process(
        [*cmd, "--backends", ",".join(backends)], timeout=timeout, label=f"backup ours {n}"
    )
    if code is None:
        return _failed("ours", backends, n, "error", f"did not finish within {timeout:.0f}s")
    if code != 0 or not out.exists():
        return _failed("ours", backends, n, "error", error_summary(tail))
    rows: list[dict[str, Any]] = json.loads(out.read_text())["rows"]
    return [{**r, "status": "ok"} for r in rows]


def _peer(runner: Runner, n: int, backends: list[str], timeout: float) -> list[dict[str, Any]]:
    from .harness import error_summary, log, run_process

    python = runner.peer_python
    if python is None:
        reason = runner.problems.get("peer", "not run (--impls)")
        return _failed("peer", backends, n, "n/a", reason)
    driver = str(BENCH_DIR / "peer_backup_driver.py")
    work = runner.workdir / f"backup-peer-{n}"
    work.mkdir(parents=True, exist_ok=True)
    archive = work / "staged.bin"
    stage = work / "stage.json"
    stage.write_text(json.dumps({"n": n, "archive": str(archive)}))
    log(f"backup: the peer, {n:,} books (create + 2 updates each) in its staging store")
    code, tail = run_process(
        [str(python), driver, "stage", str(stage), str(work / "staged.json")],
        timeout=timeout,
        label=f"backup peer stage {n}",
    )
    if code != 0:
        why = f"did not finish within {timeout:.0f}s" if code is None else error_summary(tail)
        return _failed("peer", backends, n, "error", f"staging: {why}")
    staged = json.loads((work / "staged.json").read_text())
    rows: list[dict[str, Any]] = []
    for backend in backends:
        config: dict[str, Any] = {
            "n": n,
            "backend": backend,
            "archive": str(archive),
            "workdir": str(work / backend),
            "dump_path": str(work / f"{backend}.dump"),
        }
        database = f"specstar_bench_{runner.run_id}_peer_backup_{n}"
        cleanup = backend == "postgres"
        if cleanup:
            services.create_database(runner.dsn, database)
            config["pg_dsn"] = services.with_database(runner.dsn, database)
        config_path = work / f"{backend}.json"
        config_path.write_text(json.dumps(config))
        out = work / f"{backend}.out.json"
        log(f"backup: the peer's load and dump, {n:,} books on {backend}")
        try:
            code, tail = run_process(
                [str(python), driver, "measure", str(config_path), str(out)],
                timeout=timeout,
                label=f"backup peer {backend} {n}",
            )
        finally:
            if cleanup:
                services.drop_database(runner.dsn, database)
        if code is None:
            rows += _failed("peer", [backend], n, "error", f"did not finish within {timeout:.0f}s")
        elif code != 0 or not out.exists():
            rows += _failed("peer", [backend], n, "error", error_summary(tail))
        else:
            rows += [
                {**r, "impl": "peer", "status": "ok", "staging_s": staged["create_update_s"]}
                for r in json.loads(out.read_text())
            ]
    return rows


def run_section(
    runner: Runner,
    sizes: list[int],
    backends: list[str] | None = None,
    impls: list[str] | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Run the section with ``runner`` (its peer venv, PostgreSQL, work folder); returns it
    (rows, sizes, target) and records SpecStar's failed rows in ``runner.fatal``."""
    backends = list(backends or BACKENDS)
    impls = [i for i in (impls or runner.impls) if i in IMPLS]
    timeout = timeout or (300.0 if runner.quick else 1800.0)
    problem = runner.problems.get("postgres") or (
        services.pg_problem(runner.dsn) if "postgres" in backends else None
    )
    rows: list[dict[str, Any]] = []
    for n in sizes:
        usable = [b for b in backends if b != "postgres" or not problem]
        for impl, side in (("ours", _ours), ("peer", _peer)):
            if impl in impls and usable:
                rows += side(runner, n, usable, timeout)
            if problem and "postgres" in backends and impl in impls:
                rows += _failed(impl, ["postgres"], n, "n/a", f"PostgreSQL: {problem}")
    for r in rows:  # the peer's failures are reported, not fatal (as in the main suites)
        if r["status"] == "error" and r["impl"] != "peer":
            runner.fatal.append(
                f"backup/{r['impl']}/{r['backend']}/{r['resources']}: {r['reason']}"
            )
    return {
        "sizes": sizes,
        "backends": backends,
        "revisions": REVISIONS,
        "rss_target_mib": RSS_TARGET_MIB,
        "rows": rows,
    }


def merged(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """``new``, keeping the rows of ``old`` it did not rerun (another size, say)."""
    if not old:
        return new

    def key(r: dict[str, Any]) -> tuple[str, str, int]:
        return r["impl"], r["backend"], r["resources"]

    rerun = {key(r) for r in new["rows"]}
    kept = [r for r in old["rows"] if key(r) not in rerun]
    commands = [c for c in (old.get("command"), new.get("command")) if c]
    return {
        **new,
        "sizes": sorted({*old.get("sizes", []), *new["sizes"]}),
        "rows": kept + new["rows"],
        "command": "; ".join(dict.fromkeys(commands)),
    }


def merge_into(path: Path, section: dict[str, Any]) -> None:
    """Store ``section`` in the results file ``path`` (keeping rows it did not rerun) and
    re-render its Markdown, and ``docs/benchmarks.md`` when it is ``latest.json``."""
    from . import report

    results = json.loads(path.read_text())
    results["backup"] = merged(results.get("backup"), section)
    path.write_text(json.dumps(results, indent=1) + "\n")
    md_path = path.with_suffix(".md")
    docs = path.name == "latest.json"
    charts = ROOT / "docs" / "benchmarks" if docs else path.parent / "charts"
    md_path.write_text("# Benchmark results\n\n" + report.markdown(results, charts, md_path.parent))
    if docs:
        docs_path = ROOT / "docs" / "benchmarks.md"
        docs_path.write_text(report.docs_page(results, charts, docs_path))


def main(argv: list[str] | None = None) -> int:
    from datetime import UTC, datetime

    from .harness import log, parse_args, parse_sizes
    from .report_tables import backup_table
    from .runner import Runner

    parser = argparse.ArgumentParser(prog="python -m benchmarks.backup_bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"N={QUICK_SIZES[0]:,}: a crash check")
    parser.add_argument("--sizes", type=parse_sizes, help="e.g. 2k,10k (default; quick: 1k)")
    parser.add_argument("--impls", default="ours,peer", help="ours,peer (default) or one")
    parser.add_argument("--backends", default="sqlite,postgres", help="sqlite,postgres or one")
    parser.add_argument("--timeout", type=float, help="seconds per process (300 quick, 1800)")
    parser.add_argument("--json", type=Path, help="write the section to this file")
    parser.add_argument(
        "--merge",
        type=Path,
        help="store the section in this results file (e.g. results/latest.json) and re-render "
        "its Markdown (and docs/benchmarks.md when it is latest.json)",
    )
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    impls = [i.strip() for i in args.impls.split(",") if i.strip()]
    if not backends or set(backends) - set(BACKENDS) or not impls or set(impls) - set(IMPLS):
        parser.error(f"choose backends from {BACKENDS} and impls from {IMPLS}")
    run_argv = ["--impls", ",".join(impls), "--backends", ",".join(backends), "--no-http"]
    runner = Runner(parse_args([*run_argv, "--no-jobs", *(["--quick"] if args.quick else [])]))
    sizes = args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        runner.prepare()
        section = run_section(runner, sizes, backends, impls, args.timeout)
    finally:
        runner.close()
    section["command"] = "python -m benchmarks.backup_bench " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    section["started"] = started
    section["problems"] = runner.problems
    print(backup_table({"backup": section}))
    if args.json:
        args.json.write_text(json.dumps(section, indent=1) + "\n")
    if args.merge:
        merge_into(args.merge, section)
    if runner.fatal:
        log("FAILED: " + "; ".join(runner.fatal))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
