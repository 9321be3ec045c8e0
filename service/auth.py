"""Bearer-token checks for the admin and moderation endpoints."""

from __future__ import annotations

import functools
import hmac

from flask import current_app, request

from service.errors import Unauthorized

ADMIN = "admin"


def bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if any."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def role_of(token: str | None) -> str | None:
    """The role a token grants, or None. Compared in constant time."""
    admin_token = current_app.config["ADMIN_TOKEN"]
    if token and admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return ADMIN
    return None


def require_admin(view):
    """Let the view run only for an admin bearer token; 401 otherwise."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if role_of(bearer_token()) != ADMIN:
            raise Unauthorized()
        return view(*args, **kwargs)

    return wrapper
