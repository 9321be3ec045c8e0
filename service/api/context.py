"""What a view needs from the app and the request: the core, the time, the client, the caller's role."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, current_app, g, request

from service.core import Client, Core
from service.core.tokens import TokenHolder, require_role

EXTENSION = "yaynay"
View = TypeVar("View", bound=Callable[..., Any])


def init_app(app: Flask, core: Core) -> None:
    """Make ``core`` the app's core."""
    app.extensions[EXTENSION] = core


def core() -> Core:
    """The current app's core."""
    return cast(Core, current_app.extensions[EXTENSION])


def now() -> float:
    """The current time, from the core's clock (tests may pin it)."""
    return core().now()


def client() -> Client:
    """Who sent this request: its address (ProxyFix has applied PROXY_HOPS) and user agent."""
    return Client(ip=request.remote_addr or "unknown", user_agent=request.headers.get("User-Agent", ""))


def bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if any."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def caller() -> TokenHolder:
    """Who is calling this view, once ``requires`` has let them in."""
    return cast(TokenHolder, g.caller)


def requires(role: str) -> Callable[[View], View]:
    """Let the view run only for a bearer token of ``role`` or higher (401 without one, 403 below it);
    the holder is ``caller()`` inside the view."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            g.caller = require_role(core(), bearer_token(), role)
            return view(*args, **kwargs)

        return cast(View, wrapper)

    return decorator
