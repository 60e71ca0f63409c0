"""What the benchmark run and its sections share: the command line of ``benchmarks.run`` (which
the sections' own mains reuse to build a :class:`~benchmarks.runner.Runner`), logging, running a
measuring process, and a description of the machine.

It imports no section and no runner, so every section may import it.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path
from typing import Any

from .workloads import WORKLOADS

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
IMPLS = ("ours", "peer", "raw")
BACKENDS = ("memory", "sqlite", "postgres")


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_process(cmd: list[str], *, timeout: float, label: str) -> tuple[int | None, str]:
    """Run ``cmd``, echoing its stderr; return its exit code (``None``: timed out) and the last
    lines of its stderr."""
    tail: deque[str] = deque(maxlen=25)
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    stream = proc.stderr

    def pump() -> None:
        for line in stream:
            tail.append(line.rstrip())
            print(f"  {line.rstrip()}", file=sys.stderr, flush=True)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        code: int | None = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code = None
    except BaseException:  # interrupted: take the suite's process down with the run
        proc.kill()
        proc.wait()
        raise
    reader.join(timeout=5)
    if code not in (0, None):
        log(f"  {label}: exited with status {code}")
    return code, "\n".join(tail)


def error_summary(tail: str) -> str:
    lines = [line for line in tail.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


def command_line(argv: list[str]) -> str:
    if not argv:
        return "make bench"
    if argv == ["--quick"]:
        return "make bench-quick"
    return "python -m benchmarks.run " + " ".join(argv)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def parse_sizes(text: str) -> list[int]:
    """``1000,10000`` or ``1k,10k,100k``."""
    out = []
    for item in text.split(","):
        item = item.strip().lower().replace("_", "")
        if item:
            out.append(int(item[:-1]) * 1000 if item.endswith("k") else int(item))
    if not out or min(out) < 10:
        raise argparse.ArgumentTypeError("sizes must be at least 10")
    return out


def _choices(choices: tuple[str, ...]) -> Any:
    def parse(text: str) -> list[str]:
        items = [x.strip() for x in text.split(",") if x.strip()]
        bad = [x for x in items if x not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {', '.join(choices)}")
        return items

    return parse


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="SpecStar vs the specstar package on PyPI vs the raw drivers.",
    )
    parser.add_argument("--quick", action="store_true", help="N=1k, one repeat, short runs")
    parser.add_argument("--sizes", type=parse_sizes, help="e.g. 1k,10k,100k (default)")
    parser.add_argument("--backends", type=_choices(BACKENDS), default=list(BACKENDS))
    parser.add_argument("--impls", type=_choices(IMPLS), default=list(IMPLS))
    parser.add_argument("--workloads", type=_choices(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--repeats", type=int, help="timed runs per measurement (median)")
    parser.add_argument("--seed", type=int, default=20240607)
    parser.add_argument("--http-n", type=int, help="rows preloaded for the HTTP benchmark")
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP benchmark")
    parser.add_argument("--no-jobs", action="store_true", help="skip the jobs section")
    parser.add_argument("--no-s3", action="store_true", help="skip the S3 section")
    parser.add_argument("--no-backup", action="store_true", help="skip the backup section")
    parser.add_argument(
        "--out", type=Path, help="JSON results (default: results/latest.json, quick.json)"
    )
    parser.add_argument(
        "--docs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="rewrite docs/benchmarks.md and its charts (default: on for full runs only)",
    )
    args = parser.parse_args(argv)
    args.argv = argv
    if args.sizes is None:
        args.sizes = [1000] if args.quick else [1000, 10000, 100000]
    if args.out is None:
        args.out = BENCH_DIR / "results" / ("quick.json" if args.quick else "latest.json")
    if args.docs is None:
        args.docs = not args.quick
    return args
