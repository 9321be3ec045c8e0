"""The console at ``/moderate``: moderators work the queue and the spam tools, admins also manage
polls, tokens and webhooks.

Served unless ``CONSOLE`` is off, whatever ``DEMO`` says: with pre-moderation the default,
every comment waits for this page. It is static: the token is typed in the page, kept in
sessionStorage, and sent to the API as a bearer token.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, make_response, render_template

from service.api.security import secure_html
from service.core import events, spam

blp = Blueprint("console", __name__)

# The forms' choices come from the core; these are only their words for people.
RULE_KIND_LABELS = {"word": "Word or phrase", "domain": "Link domain", "email": "Email", "ip": "IP digest"}
RULE_ACTION_LABELS = {"hold": "Hold for review", "reject": "Reject"}
WEBHOOK_FORMAT_LABELS = {"standard": "Standard Webhooks (JSON)", "slack": "Slack (text)"}


@blp.before_request
def console_enabled() -> None:
    if not current_app.config["CONSOLE"]:
        abort(404)


@blp.route("/moderate")
def moderate() -> Response:
    """The console; never framed, so no other page can dress it up."""
    page = render_template(
        "moderate.html",
        rule_kinds=spam.RULE_KINDS,
        rule_kind_labels=RULE_KIND_LABELS,
        rule_actions=spam.RULE_ACTIONS,
        rule_action_labels=RULE_ACTION_LABELS,
        webhook_events=events.EVENTS,
        webhook_formats=events.FORMATS,
        webhook_format_labels=WEBHOOK_FORMAT_LABELS,
    )
    return secure_html(make_response(page), frame_ancestors="'none'")
