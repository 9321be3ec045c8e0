"""The console at ``/moderate``: moderators work the queue, admins manage polls, threads and tokens.

Served unless ``CONSOLE`` is off, whatever ``DEMO`` says: with pre-moderation the default,
every comment waits for this page. It is static: the token is typed in the page, kept in
sessionStorage, and sent to the API as a bearer token.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, make_response, render_template

from service.api.security import secure_html

blp = Blueprint("console", __name__)


@blp.before_request
def console_enabled() -> None:
    if not current_app.config["CONSOLE"]:
        abort(404)


@blp.route("/moderate")
def moderate() -> Response:
    """The console; never framed, so no other page can dress it up."""
    return secure_html(make_response(render_template("moderate.html")), frame_ancestors="'none'")
