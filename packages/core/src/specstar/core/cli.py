"""The ``specstar`` console command.

``specstar worker module:app`` runs the workers of every job model of ``app`` (a
``SpecStar`` application, a ``JobManager``, or a list of managers) until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Any

from .jobs.pool import WorkerPool, job_managers

__all__ = ["load_object", "main"]


def load_object(spec: str) -> Any:
    """Import ``"package.module:attribute"`` (the attribute may be dotted)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected module:attribute, got {spec!r}")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="specstar", description="SpecStar commands")
    sub = parser.add_subparsers(dest="command", required=True)
    worker = sub.add_parser("worker", help="run the workers of the job models of an app")
    worker.add_argument("app", help="module:attribute of the app (or job manager)")
    worker.add_argument(
        "--concurrency", type=int, default=1, help="jobs run at once per job model (default 1)"
    )
    worker.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME",
        help="serve only this job model (repeatable; default: every job model)",
    )
    worker.add_argument(
        "--grace",
        type=float,
        default=30.0,
        help="seconds in-flight jobs get to finish at shutdown (default 30)",
    )
    worker.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``specstar`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(processName)s: %(message)s",
    )
    if args.concurrency < 1:
        print("specstar worker: --concurrency must be >= 1", file=sys.stderr)
        return 2
    sys.path.insert(0, ".")
    managers = job_managers(load_object(args.app))
    if args.model:
        names = {m.name for m in managers}
        unknown = sorted(set(args.model) - names)
        if unknown:
            print(
                f"specstar worker: unknown job model(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(names)) or 'none'}",
                file=sys.stderr,
            )
            return 2
        managers = [m for m in managers if m.name in args.model]
    try:
        pool = WorkerPool(managers, concurrency=args.concurrency, grace=args.grace)
    except ValueError as exc:
        print(f"specstar worker: {exc}", file=sys.stderr)
        return 2
    pool.run()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
