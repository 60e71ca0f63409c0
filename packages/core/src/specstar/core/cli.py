"""The ``specstar`` console command.

Built-in subcommands:

* ``specstar worker module:app`` runs the workers of every job model of ``app`` (a
  ``SpecStar`` application, a ``JobManager``, or a list of managers) until SIGTERM or SIGINT;
* ``specstar dump module:app -o FILE`` and ``specstar load module:app FILE`` back up and
  restore (see :mod:`specstar.core.backup.command`).

Installed packages add subcommands through the ``specstar.commands`` entry-point group: each
entry point names a callable ``add(subparsers, load_object)`` that adds its parser with
``set_defaults(run=...)``, ``run`` taking the parsed arguments and returning the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import logging
import sys
from collections.abc import Sequence
from typing import Any

from .backup.command import add_dump, add_load
from .jobs.pool import WorkerPool, job_managers

__all__ = ["COMMANDS_GROUP", "load_object", "main"]

#: The entry-point group through which installed packages add subcommands.
COMMANDS_GROUP = "specstar.commands"


def load_object(spec: str) -> Any:
    """Import ``"package.module:attribute"`` (the attribute may be dotted)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected module:attribute, got {spec!r}")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _add_worker(commands: Any) -> None:
    worker = commands.add_parser("worker", help="run the workers of the job models of an app")
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
    worker.set_defaults(run=_run_worker)


def _run_worker(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(processName)s: %(message)s",
    )
    if args.concurrency < 1:
        print("specstar worker: --concurrency must be >= 1", file=sys.stderr)
        return 2
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="specstar", description="SpecStar commands")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_worker(commands)
    add_dump(commands, load_object)
    add_load(commands, load_object)
    taken = {"worker", "dump", "load"}
    for entry in importlib.metadata.entry_points(group=COMMANDS_GROUP):
        if entry.name in taken:
            raise RuntimeError(
                f"entry point {entry.value!r} of {COMMANDS_GROUP!r} adds {entry.name!r}, "
                "which is taken"
            )
        taken.add(entry.name)
        entry.load()(commands, load_object)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``specstar`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    sys.path.insert(0, ".")
    status: int = args.run(args)
    return status


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
