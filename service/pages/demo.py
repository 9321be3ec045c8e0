"""The demo a newcomer sees at ``/``: an article with the widget (the console is ``console.py``)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, make_response, render_template

from service.api.context import core
from service.api.security import secure_html
from service.core.demo import DEMO_POLL, ensure_demo_poll

blp = Blueprint("demo", __name__)


@blp.before_request
def demo_enabled() -> None:
    if not current_app.config["DEMO"]:
        abort(404)


@blp.route("/")
def article() -> Response:
    """A YAY-or-NAY article with the widget, and a plain HTML comment form beneath it."""
    ensure_demo_poll(core())
    html = render_template("demo.html", poll_id=DEMO_POLL)
    return secure_html(make_response(html), frame_ancestors="'self'")
