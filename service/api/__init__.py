"""The HTTP API under /api/v1: one module a resource, each a flask-smorest Blueprint of thin views."""

from __future__ import annotations

from flask import Flask

from service.api import (
    admin,
    comments,
    converters,
    cors,
    errors,
    health,
    moderation,
    observe,
    openapi,
    polls,
    security,
    webhooks,
)
from service.api.context import init_app as init_context
from service.core import Core
from service.core import moderation as moderation_use_cases


def init_app(app: Flask, core: Core) -> None:
    """Serve the API, its OpenAPI document and its error answers from ``app``."""
    init_context(app, core)
    moderation_use_cases.keep_indexes_complete(core)
    observe.init_app(app)
    api = openapi.make_api(app)
    converters.init_app(app, api)
    cors.init_app(app)
    security.init_app(app)
    for module in (polls, comments, moderation, admin, webhooks, health):
        api.register_blueprint(module.blp)
    openapi.document_settings(api, core.policy)
    errors.init_app(app)
