"""The demo a newcomer sees at ``/``: an article with the widget, and the moderators' page."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, make_response, render_template

from service.api import now, secure_html
from service.extensions import store

DEMO_POLL = "mini-backpacks"
DEMO_QUESTION = "Are you YAY or NAY on mini backpacks?"

blp = Blueprint("demo", __name__)


def ensure_demo_poll(polls, at: float) -> None:
    """Create the demo article's poll once; an existing one (and its tally) is left alone."""
    if polls.get(DEMO_POLL) is None:
        polls.save(DEMO_POLL, question=DEMO_QUESTION, closes_at=None, allow_change=True, now=at)


@blp.before_request
def demo_enabled():
    if not current_app.config["DEMO"]:
        abort(404)


@blp.route("/")
def article():
    """A YAY-or-NAY article with the widget, and a plain HTML comment form beneath it."""
    ensure_demo_poll(store.polls, now())
    html = render_template("demo.html", poll_id=DEMO_POLL,
                           honeypot_field=current_app.config["HONEYPOT_FIELD"])
    return secure_html(make_response(html), frame_ancestors="'self'")


@blp.route("/moderate")
def moderate():
    """The moderators' queue; the token is typed in the page and kept in sessionStorage."""
    return secure_html(make_response(render_template("moderate.html")), frame_ancestors="'none'")
