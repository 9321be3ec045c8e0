"""yaynay: reader YAY/NAY polls and comments for any article page."""

from __future__ import annotations

import time

from flask import Flask
from flask.sessions import SessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from service import errors
from service.settings import load_settings


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: settings, extensions, blueprints. ``test_config`` overrides settings."""
    app = Flask(__name__)
    app.config.update(_flask_and_smorest_settings())
    app.config.update(load_settings(test_config))
    app.config.setdefault("CLOCK", time.time)
    app.session_interface = NoSessions()
    if app.config["PROXY_HOPS"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_HOPS"],
                                x_proto=app.config["PROXY_HOPS"])

    from service import cors
    from service.api import register
    from service.extensions import api, store

    store.init_app(app)
    cors.init_app(app)
    api.init_app(app)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    register(app, api)
    from service import demo
    from service.api import embed

    app.register_blueprint(embed.blp)
    app.register_blueprint(demo.blp)
    errors.init_app(app)
    return app


class NoSessions(SessionInterface):
    """yaynay keeps no Flask session: readers are known by their voter token, moderators by
    theirs. Flask's default cookie session builds an itsdangerous signer on every request
    once SECRET_KEY is set, which measured at about a fifth of a tally read's time."""

    def open_session(self, app, request):
        return self.make_null_session(app)

    def save_session(self, app, session, response) -> None:
        return None


def _flask_and_smorest_settings() -> dict:
    return {
        "API_TITLE": "yaynay",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "JSON_SORT_KEYS": False,
    }
