"""The order of an app's routes: a literal path segment wins over a parameter, whatever order
the templates added the routes in."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute

__all__ = ["unshadowed"]


def _segments(route: BaseRoute) -> list[str] | None:
    """The path segments of a route (``None`` when one may span several segments)."""
    path = getattr(route, "path", None)
    if not isinstance(path, str) or ":path}" in path:
        return None
    return path.split("/")


def _shadows(general: list[str], specific: list[str]) -> bool:
    """Whether a route with the segments ``general`` matches every path of ``specific``
    and ``specific`` has a literal segment where ``general`` has a parameter."""
    if len(general) != len(specific):
        return False
    narrower = False
    for g, s in zip(general, specific, strict=True):
        g_param, s_param = "{" in g, "{" in s
        if g_param and not s_param:
            narrower = True
        elif g != s and not (g_param and s_param):
            return False
    return narrower


def unshadowed(routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    """``routes`` with every route moved in front of the first route that would take its
    requests (``/m/{id}`` takes ``/m/search``): whatever order templates added them in, a
    literal path segment wins over a parameter. Routes nothing shadows keep their order.
    """
    out: list[BaseRoute] = []
    for route in routes:
        mine = _segments(route)
        at = len(out)
        if mine is not None:
            for i, earlier in enumerate(out):
                theirs = _segments(earlier)
                if theirs is not None and _shadows(theirs, mine):
                    at = i
                    break
        out.insert(at, route)
    return out
