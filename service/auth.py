"""Bearer tokens: the bootstrap admin (YAYNAY_ADMIN_TOKEN) and stored moderator/admin tokens."""

from __future__ import annotations

import functools
import hmac

from flask import current_app, g, request

from service.errors import Forbidden, Unauthorized
from service.extensions import store
from service.store.tokens import TokenHolder

ADMIN = "admin"
MODERATOR = "moderator"
_RANK = {MODERATOR: 1, ADMIN: 2}


def bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if any."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def holder_of(token: str | None) -> TokenHolder | None:
    """Who presents ``token``: the bootstrap admin (compared in constant time) or a stored token."""
    if not token:
        return None
    admin_token = current_app.config["ADMIN_TOKEN"]
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return TokenHolder("admin", ADMIN)
    # Stored tokens are looked up by their SHA-256, so no comparison of secrets happens here.
    return store.tokens.holder(token)


def require_role(role: str):
    """Let the view run only for a token of ``role`` or higher: 401 without one, 403 below it.

    The token's holder is in ``g.moderator`` for the view.
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            holder = holder_of(bearer_token())
            if holder is None:
                raise Unauthorized()
            if _RANK[holder.role] < _RANK[role]:
                raise Forbidden(f"This needs the {role} role; {holder.name} is a {holder.role}.")
            g.moderator = holder
            return view(*args, **kwargs)

        return wrapper

    return decorator


require_admin = require_role(ADMIN)
require_moderator = require_role(MODERATOR)
