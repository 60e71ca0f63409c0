"""The ``specstar dump`` and ``specstar load`` commands.

``specstar dump module:app -o FILE [--model NAME [--qb EXPR]]... [--user USER]`` writes an
archive (``-o -``: standard output); ``specstar load module:app FILE [--on-duplicate
overwrite|skip|raise_error] [--user USER]`` loads one (``-``: standard input). ``app`` is
anything holding managers: a ``SpecStar`` application (its ``resource_managers``), a
:class:`~specstar.core.ResourceManager`, or a list of them. Progress goes to standard error:
a bar on a terminal, a line every few seconds otherwise (``--quiet``: nothing).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from typing import Any

from msgspec import UNSET

from ..errors import ArchiveError, DuplicateResourceError, PermissionDeniedError, QueryError
from ..manager import ResourceManager
from ..query.grammar import parse_condition
from .display import ProgressDisplay
from .loader import OnDuplicate, load
from .writer import ModelQuery, dump

__all__ = ["add_dump", "add_load", "managers_of"]

Loader = Callable[[str], Any]


def managers_of(obj: Any) -> list[ResourceManager[Any]]:
    """The managers ``obj`` holds: an application's ``resource_managers``, one manager, or
    an iterable of managers.

    Raises:
        TypeError: ``obj`` is none of these.
    """
    held = getattr(obj, "resource_managers", None)
    if isinstance(held, Mapping):
        obj = list(held.values())
    if isinstance(obj, ResourceManager):
        return [obj]
    if isinstance(obj, list | tuple) and all(isinstance(m, ResourceManager) for m in obj):
        return list(obj)
    raise TypeError(
        f"{type(obj).__name__} holds no resource managers (expected a SpecStar app, a "
        "ResourceManager or a list of them)"
    )


class _ModelAction(argparse.Action):
    """``--model NAME`` adds a model; ``--qb EXPR`` filters the model named just before."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        chosen: list[list[str | None]] = getattr(namespace, "models", None) or []
        if option_string == "--model":
            chosen.append([values, None])
        elif not chosen:
            parser.error("--qb needs a --model before it")
        elif chosen[-1][1] is not None:
            parser.error(f"--qb given twice for --model {chosen[-1][0]}")
        else:
            chosen[-1][1] = values
        namespace.models = chosen


def _progress(args: argparse.Namespace) -> ProgressDisplay | None:
    return None if args.quiet else ProgressDisplay(sys.stderr)


def _fail(command: str, message: str) -> int:
    print(f"specstar {command}: {message}", file=sys.stderr)
    return 2


def run_dump(args: argparse.Namespace, load_object: Loader) -> int:
    """``specstar dump``: write the archive; returns the exit status."""
    managers = managers_of(load_object(args.app))
    queries: dict[str, ModelQuery] | None = None
    if args.models:
        queries = {}
        for name, qb in args.models:
            try:
                queries[name] = None if qb is None else parse_condition(qb)
            except QueryError as exc:
                return _fail("dump", f"--qb for {name}: {exc}")
    user = UNSET if args.user is None else args.user
    out = sys.stdout.buffer if args.output == "-" else open(args.output, "wb")  # noqa: SIM115
    try:
        stats = dump(managers, out, model_queries=queries, user=user, progress=_progress(args))
    except (ValueError, QueryError, PermissionDeniedError) as exc:
        return _fail("dump", str(exc))
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    if not args.quiet:
        for name, s in stats.items():
            print(
                f"{name}: {s.resources} resources, {s.revisions} revisions, {s.blobs} blobs",
                file=sys.stderr,
            )
    return 0


def run_load(args: argparse.Namespace, load_object: Loader) -> int:
    """``specstar load``: load the archive; returns 0, 1 when records were refused, 2 when
    the load could not run."""
    managers = managers_of(load_object(args.app))
    user = UNSET if args.user is None else args.user
    source = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
    try:
        stats = load(
            managers,
            source,
            on_duplicate=args.on_duplicate,
            user=user,
            progress=_progress(args),
        )
    except (ArchiveError, DuplicateResourceError, PermissionDeniedError) as exc:
        return _fail("load", str(exc))
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    failed = 0
    for name, s in stats.items():
        if not args.quiet:
            print(
                f"{name}: {s.loaded} loaded, {s.skipped} skipped, {s.failed} failed "
                f"of {s.total}; {s.blobs} blobs",
                file=sys.stderr,
            )
        for f in s.failures:
            print(f"  refused {f.model} {f.resource_id}: {f.reason}", file=sys.stderr)
        failed += s.failed
    return 1 if failed else 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("app", help="module:attribute of the app (or manager, or list)")
    parser.add_argument("--user", default=None, help="act as this user (permission checks)")
    parser.add_argument("--quiet", action="store_true", help="no progress, no summary")


def add_dump(commands: Any, load_object: Loader) -> None:
    """Add ``dump`` to the ``specstar`` command's subparsers."""
    p = commands.add_parser("dump", help="write a backup archive of an app's models")
    _common(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="archive ('-': stdout)")
    p.add_argument(
        "--model",
        action=_ModelAction,
        dest="models",
        metavar="NAME",
        help="dump this model (repeatable; default: every model)",
    )
    p.add_argument(
        "--qb",
        action=_ModelAction,
        dest="models",
        metavar="EXPR",
        help="only the resources of the --model before it that match this filter",
    )
    p.set_defaults(run=lambda args: run_dump(args, load_object))


def add_load(commands: Any, load_object: Loader) -> None:
    """Add ``load`` to the ``specstar`` command's subparsers."""
    p = commands.add_parser("load", help="load a backup archive into an app's models")
    _common(p)
    p.add_argument("file", metavar="FILE", help="the archive ('-': stdin)")
    p.add_argument(
        "--on-duplicate",
        choices=[m.value for m in OnDuplicate],
        default=OnDuplicate.overwrite.value,
        help="for ids the target has: overwrite (default), skip, raise_error",
    )
    p.set_defaults(run=lambda args: run_load(args, load_object))
