"""Server-rendered pages: what an article embeds (the widget script, the iframe page), the console and the demo."""

from __future__ import annotations

from typing import Any

from flask import Flask

from service.api.context import core
from service.pages import console, demo, embed


def init_app(app: Flask) -> None:
    """Serve the pages; every template sees the comment settings its form needs."""
    app.register_blueprint(embed.blp)
    app.register_blueprint(console.blp)
    app.register_blueprint(demo.blp)

    @app.context_processor
    def comment_settings() -> dict[str, Any]:
        policy = core().policy
        return {"honeypot_field": policy.honeypot_field, "comment_lengths": policy.comment_lengths}
