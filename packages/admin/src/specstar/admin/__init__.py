"""SpecStar admin: a browser UI served by the app itself to browse, search, edit and
time-travel every resource (``mount(app, crud)``)."""

from ._version import __version__
from .site import AdminSite, mount

__all__ = ["AdminSite", "__version__", "mount"]
