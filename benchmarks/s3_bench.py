"""The S3 section: SpecStar's S3 backends side by side with the PyPI ``specstar`` package's.

Rows (one process per implementation, backend and size, as the main suites; every one on
the same moto S3 server, started once for the section in a process of its own, each suite in
a bucket of its own):

* ``s3``: SpecStar's database-free ``S3StorageFactory`` (a commit log of conditional writes
  plus revision objects) against the peer's S3 provider (meta in a SQLite file synced to S3,
  revisions as S3 objects);
* ``s3-1s``: the same with ``max_staleness=1`` (a read asks S3 for new log entries at most
  once a second), compared with the same peer row: the peer's S3 meta store checks the S3
  copy of its database at most once a second too, so this row compares like with like;
* ``postgres+s3``: ``PostgresStorageFactory(payloads=S3PayloadStoreFactory(...))`` against
  the peer with meta in PostgreSQL and revisions in S3 (its ``PostgreSQLS3StorageFactory``
  layout);
* ``sqlite+s3``: the same with SQLite meta (the peer: its SQLite meta store and S3 revisions).

Workloads: ``get``, ``search_range``, ``update``, ``create`` (what an S3 backend changes:
reads of revision data, a search, writes of objects). moto answers on loopback, so the figures
measure the client side and the request count of each backend, not S3's network latency
(``docs/storage.md`` lists the requests per operation).

``python -m benchmarks.s3_bench [--quick] [--sizes 1k,10k] [--merge results/latest.json]``
runs the section alone; ``run.py`` runs it as part of ``make bench`` / ``make bench-quick``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runner import Runner

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent

BACKENDS = ("s3", "s3-1s", "postgres+s3", "sqlite+s3")
#: The peer row a SpecStar row is compared with (``s3-1s`` has no peer suite of its own: the
#: peer's S3 backend already reads with up to 1 s of staleness).
PEER_ROW = {"s3-1s": "s3"}
WORKLOADS = ("get", "search_range", "update", "create")
FULL_SIZES = [1000, 10000]
QUICK_SIZES = [200]
#: SpecStar's target against the peer on every row.
TARGET = 3.0


def run_section(
    runner: Runner, sizes: list[int], backends: list[str] | None = None
) -> dict[str, Any]:
    """Run the S3 suites with ``runner`` (its settings, peer venv and PostgreSQL) on one moto
    server; returns the section (its suites, sizes and problems)."""
    from specstar.testing.services import moto_server

    from . import services

    if "postgres" not in runner.problems and "postgres" not in runner.backends:
        problem = services.pg_problem(runner.dsn)  # not checked by the run's own backends
        if problem:
            runner.problems["postgres"] = problem
    impls = [i for i in runner.impls if i in ("ours", "peer")]
    saved = runner.sizes, runner.backends, runner.impls, runner.workloads
    runner.sizes, runner.backends, runner.impls = sizes, list(backends or BACKENDS), impls
    runner.workloads = [w for w in saved[3] if w in WORKLOADS] or list(WORKLOADS)
    try:
        with moto_server() as endpoint:
            runner.s3_endpoint = endpoint
            suites = runner.run_suites()
    finally:
        runner.s3_endpoint = None
        runner.sizes, runner.backends, runner.impls, runner.workloads = saved
    return {
        "sizes": sizes,
        "backends": list(BACKENDS),
        "workloads": list(WORKLOADS),
        "target": TARGET,
        "server": "moto (server mode, loopback, a process of its own)",
        "peer_row": PEER_ROW,
        "suites": suites,
    }


def merged(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """``new``, keeping the suites of ``old`` it did not rerun (another size, say), so the
    sizes can be run one command at a time."""
    if not old:
        return new
    rerun = {(e["impl"], e["backend"], e["n"]) for e in new["suites"]}
    kept = [e for e in old["suites"] if (e["impl"], e["backend"], e["n"]) not in rerun]
    sizes = sorted({*old.get("sizes", []), *new["sizes"]})
    commands = [
        c for c in (old.get("command"), new.get("command")) if c and c != new.get("command")
    ]
    return {
        **new,
        "sizes": sizes,
        "suites": kept + new["suites"],
        "command": "; ".join([*commands, new.get("command", "")]),
    }


def main(argv: list[str] | None = None) -> int:
    from . import report
    from .harness import log, parse_args
    from .report_tables import s3_table
    from .runner import Runner

    parser = argparse.ArgumentParser(prog="python -m benchmarks.s3_bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few rows, one repeat: a crash check")
    parser.add_argument("--sizes", help="e.g. 1k,10k (default; quick: 200)")
    parser.add_argument("--impls", default="ours,peer", help="ours,peer (default) or one")
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        help=f"a subset of {','.join(BACKENDS)} (default: all)",
    )
    parser.add_argument(
        "--merge",
        type=Path,
        help="store the section in this results file (e.g. results/latest.json) and re-render "
        "its Markdown (and docs/benchmarks.md when it is latest.json)",
    )
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or not backends:
        parser.error(f"unknown backends {unknown}; choose from {', '.join(BACKENDS)}")
    run_argv = ["--impls", args.impls, "--no-http", "--no-jobs"]
    if args.quick:
        run_argv.append("--quick")
    if args.sizes:
        run_argv += ["--sizes", args.sizes]
    run_args = parse_args(run_argv)
    sizes = run_args.sizes if args.sizes else (QUICK_SIZES if args.quick else FULL_SIZES)
    runner = Runner(run_args)
    runner.suite_timeout = 300.0 if args.quick else 1500.0
    try:
        runner.prepare()
        section = run_section(runner, sizes, backends)
    finally:
        runner.close()
    section["command"] = "python -m benchmarks.s3_bench " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    section["settings"] = runner.settings.to_dict()
    section["problems"] = runner.problems
    print(s3_table({"s3": section}))
    if args.merge:
        results = json.loads(args.merge.read_text())
        results["s3"] = merged(results.get("s3"), section)
        args.merge.write_text(json.dumps(results, indent=1) + "\n")
        md_path = args.merge.with_suffix(".md")
        docs = args.merge.name == "latest.json"
        charts = ROOT / "docs" / "benchmarks" if docs else args.merge.parent / "charts"
        body = report.markdown(results, charts, md_path.parent)
        md_path.write_text("# Benchmark results\n\n" + body)
        if docs:
            docs_path = ROOT / "docs" / "benchmarks.md"
            docs_path.write_text(report.docs_page(results, charts, docs_path))
    if runner.fatal:
        log("FAILED: " + "; ".join(runner.fatal))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
