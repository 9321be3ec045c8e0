"""yaynay: reader YAY/NAY polls and comments for any article page."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.sessions import SessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from service.settings import load_settings


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: settings, the core, the API and the pages. ``test_config`` overrides settings."""
    from service import api, pages
    from service.api.connections import BodyDeadline, StreamGate
    from service.core import Core

    app = Flask(__name__)
    app.config.update(load_settings(test_config))
    app.config["JSON_SORT_KEYS"] = False
    app.session_interface = NoSessions()
    core = Core.from_settings(app.config)
    # Inside ProxyFix, so that it sees the client's address.
    app.wsgi_app = StreamGate(app.wsgi_app, core.streams)  # type: ignore[method-assign]
    if app.config["PROXY_HOPS"]:
        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    api.init_app(app, core)
    pages.init_app(app)
    # Outermost, so that a stalled body is cut off before anything waits on it.
    app.wsgi_app = BodyDeadline(  # type: ignore[method-assign]
        app.wsgi_app, seconds=app.config["REQUEST_TIMEOUT"], max_length=app.config["MAX_CONTENT_LENGTH"]
    )
    return app


class NoSessions(SessionInterface):
    """yaynay keeps no Flask session: readers are known by their voter token, moderators by
    theirs. Flask's default cookie session builds an itsdangerous signer on every request
    once SECRET_KEY is set, which measured at about a fifth of a tally read's time."""

    def open_session(self, app: Flask, request: Any) -> Any:
        return self.make_null_session(app)

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        return None
