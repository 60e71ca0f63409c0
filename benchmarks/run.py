"""``python -m benchmarks.run``: the whole benchmark, as ``make bench`` and ``make bench-quick``.

For every size, backend and implementation (SpecStar, the ``specstar`` package from PyPI, the
raw drivers) one worker process loads the rows and measures every workload; then each app is
served over HTTP and loaded, and the job queues run side by side with the job peers
(``jobs_bench.py``), the S3 backends (``s3_bench.py``), and backup load and dump
(``backup_bench.py``); results go to JSON, a Markdown table of ratios and PNG charts
(``report.py``). A full run rewrites ``docs/benchmarks.md``.

Exit status: 0 when everything of ours and of the raw drivers ran, 1 when anything of ours or
of the harness crashed (the peer's failures are reported as "n/a" with their reason instead).
"""

from __future__ import annotations

import json
import signal
import sys
import time
from datetime import UTC, datetime
from typing import Any

from . import backup_bench, jobs_bench, s3_bench
from .harness import ROOT, log, parse_args, run_process
from .runner import Runner


def run_jobs(runner: Runner) -> dict[str, Any]:
    """The jobs section (``jobs_bench.py``): every queue side by side with the peers."""
    section = jobs_bench.JobsSection(
        quick=runner.quick,
        run_id=runner.run_id,
        workdir=runner.workdir,
        log=log,
        run_process=run_process,
    )
    jobs = section.run()
    runner.fatal += section.fatal
    return jobs


def run_s3(runner: Runner) -> dict[str, Any]:
    """The S3 section (``s3_bench.py``): SpecStar's S3 backends and the peer's."""
    full = s3_bench.FULL_SIZES
    sizes = s3_bench.QUICK_SIZES if runner.quick else [n for n in runner.sizes if n in full]
    return s3_bench.run_section(runner, sizes or full)


def run_backup(runner: Runner) -> dict[str, Any]:
    """The backup section (``backup_bench.py``): load and dump, SpecStar and the peer."""
    sizes = backup_bench.QUICK_SIZES if runner.quick else backup_bench.FULL_SIZES
    return backup_bench.run_section(runner, sizes)


def main(argv: list[str] | None = None) -> int:
    from . import report

    args = parse_args(sys.argv[1:] if argv is None else argv)
    # SIGTERM unwinds like Ctrl-C, so schemas, databases and processes are cleaned up
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    runner = Runner(args)
    try:
        runner.prepare()
        suites = runner.run_suites()
        statements = runner.run_statements()
        http = None if args.no_http else runner.run_http()
        jobs = None if args.no_jobs else run_jobs(runner)
        s3 = None if args.no_s3 else run_s3(runner)
        backup = None if args.no_backup else run_backup(runner)
    finally:
        runner.close()
    results = {
        "schema": 1,
        "meta": runner.meta(started, time.perf_counter() - t0),
        "suites": suites,
        "http": http,
        "statements": statements,
        "jobs": jobs,
        "s3": s3,
        "backup": backup,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    md_path = args.out.with_suffix(".md")
    charts = ROOT / "docs" / "benchmarks" if args.docs else args.out.parent / "charts"
    report.write_all(
        results,
        md_path=md_path,
        charts_dir=charts,
        docs_path=ROOT / "docs" / "benchmarks.md" if args.docs else None,
    )
    log(f"results: {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    log(f"table:   {md_path.relative_to(ROOT) if md_path.is_relative_to(ROOT) else md_path}")
    log(f"done in {(time.perf_counter() - t0) / 60:.1f} min")
    if runner.fatal:
        log("FAILED: " + "; ".join(runner.fatal))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
