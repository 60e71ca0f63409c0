"""SpecStar admin: a browser UI served by the app itself to browse, search, edit and
time-travel every resource (``mount(app, crud)``)."""

from __future__ import annotations

try:
    import jinja2 as _jinja2  # noqa: F401
except ModuleNotFoundError as _missing:
    raise ModuleNotFoundError(
        f"specstar.admin needs {_missing.name!r}, a dependency of the specstar-admin "
        f"distribution that is not installed: pip install {_missing.name}",
        name=_missing.name,
    ) from _missing

from ._version import __version__
from .mount import mount
from .site import AdminSite

__all__ = ["AdminSite", "__version__", "mount"]
