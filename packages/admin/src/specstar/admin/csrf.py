"""Cross-site request forgery protection of the admin's forms: a double-submit token.

Every page sets (once) a random token in a ``SameSite=Strict``, ``HttpOnly`` cookie scoped to
the admin's path and puts the same token in a hidden input of each form. A ``POST`` is
accepted only when the two agree: another site can make a browser send the cookie (it cannot
with ``SameSite=Strict``, and older browsers aside) but can neither read it nor the page that
holds the token. Nothing is kept on the server, so any number of app processes agree.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["COOKIE", "FIELD", "CsrfError", "check", "ensure_cookie", "token_of"]

#: The cookie holding the token.
COOKIE = "specstar_admin_csrf"
#: The hidden form input holding the token.
FIELD = "csrf_token"
_TOKEN_BYTES = 32


class CsrfError(Exception):
    """A form came without the token or with another one."""


def token_of(request: Request) -> str:
    """The request's token: its cookie's, or a new one (set by :func:`ensure_cookie`)."""
    existing = request.cookies.get(COOKIE, "")
    if len(existing) >= _TOKEN_BYTES:
        return existing
    cached = getattr(request.state, "admin_csrf", None)
    if isinstance(cached, str):
        return cached
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    request.state.admin_csrf = token
    return token


def ensure_cookie(request: Request, response: Response, path: str) -> None:
    """Set the token cookie on ``response`` when the request did not carry it."""
    if request.cookies.get(COOKIE) != token_of(request):
        response.set_cookie(
            COOKIE,
            token_of(request),
            path=path,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )


def check(request: Request, submitted: str | None) -> None:
    """Accept a form only with the token of its cookie.

    Raises:
        CsrfError: the cookie or the form's token is missing, or they differ.
    """
    cookie = request.cookies.get(COOKIE, "")
    if len(cookie) < _TOKEN_BYTES or not submitted:
        raise CsrfError("the form lacks its security token: reload the page and submit again")
    if not hmac.compare_digest(cookie.encode(), submitted.encode()):
        raise CsrfError("the form's security token is not this session's: reload the page")
