"""What an article page embeds: the widget script, and the iframe page that needs no JavaScript."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from functools import cache
from importlib.resources import files

from flask import Blueprint, Response, abort, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from service.api.context import client, core, now
from service.api.errors import message_page, refusal_headers, status_of
from service.api.security import refuse_foreign_form_post, secure_html
from service.core import comments, polls
from service.core.policy import CommentLengths
from service.errors import PollNotFound, YaynayError
from service.schemas import VOTER_TOKEN_PATTERN, matches, present_comment, present_poll

blp = Blueprint("embed", __name__)

VOTER_COOKIE = "yaynay_voter"
WIDGET_MAX_AGE = 86400
IMMUTABLE_MAX_AGE = 365 * 86400
_LENGTHS_IN_WIDGET = re.compile(rb"/\*yaynay:lengths\*/\{[^}]*\}")


@cache
def widget_source(lengths: CommentLengths) -> tuple[bytes, str]:
    """The widget script with this app's comment lengths written in, and its version (a hash of it)."""
    source = files("service").joinpath("static", "widget.js").read_bytes()
    written = json.dumps({"author": lengths.author, "body": lengths.body}).encode()
    source = _LENGTHS_IN_WIDGET.sub(lambda _: b"/*yaynay:lengths*/" + written, source)
    return source, hashlib.sha256(source).hexdigest()[:12]


def current_widget() -> tuple[bytes, str]:
    return widget_source(core().policy.comment_lengths)


@blp.route("/favicon.ico")
def favicon() -> Response:
    """Browsers ask every page's origin for this; half YAY green, half NAY red."""
    response = make_response(files("service").joinpath("static", "favicon.svg").read_bytes())
    response.mimetype = "image/svg+xml"
    response.headers["Cache-Control"] = f"public, max-age={WIDGET_MAX_AGE}"
    return response


@blp.route("/widget.js")
def widget() -> BaseResponse:
    """The widget; cached for a day and revalidated by its ETag (its version)."""
    source, version = current_widget()
    return _script(source, version, f"public, max-age={WIDGET_MAX_AGE}, stale-while-revalidate=604800")


@blp.route("/widget.<version>.js")
def pinned_widget(version: str) -> BaseResponse:
    """One version of the widget, cached for a year: what the widget itself is at that version."""
    source, current = current_widget()
    if version != current:
        abort(404)
    return _script(source, version, f"public, max-age={IMMUTABLE_MAX_AGE}, immutable")


def _script(source: bytes, version: str, cache_control: str) -> BaseResponse:
    response = make_response(source)
    response.mimetype = "text/javascript"
    response.headers["Cache-Control"] = cache_control
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.set_etag(version)
    return response.make_conditional(request)


def _reader_token() -> tuple[str, bool]:
    """The no-JavaScript reader's voter token from its cookie, or a new one (and True)."""
    token = request.cookies.get(VOTER_COOKIE, "")
    if matches(VOTER_TOKEN_PATTERN, token):
        return token, False
    return secrets.token_urlsafe(16), True


def _remember_reader(response: BaseResponse, token: str) -> None:
    """Keep the token in a cookie that also works inside a third-party iframe where the browser allows."""
    third_party_ready = request.is_secure or request.host.split(":")[0] in ("localhost", "127.0.0.1")
    response.set_cookie(
        VOTER_COOKIE,
        token,
        max_age=IMMUTABLE_MAX_AGE,
        httponly=True,
        secure=third_party_ready,
        samesite="None" if third_party_ready else "Lax",
        partitioned=third_party_ready,
        path="/embed/",
    )


def render_embed(
    poll_id: str, *, status_code: int = 200, message: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    """The iframe page: question, tally, vote buttons, published comments and a comment form."""
    app_core = core()
    poll = polls.get_poll(app_core, poll_id)
    token = request.cookies.get(VOTER_COOKIE)
    choice = polls.vote_of(app_core, poll_id, token) if token else None
    page = comments.read_thread(app_core, poll_id)
    html = render_template(
        "embed.html",
        poll=present_poll(poll, now()),
        choice=choice,
        message=message,
        comments=[present_comment(comment) for comment in page.items],
        comment_count=page.extra["count"],
        return_to=url_for("embed.embed_page", poll_id=poll_id, _external=True),
    )
    response = make_response(html, status_code, headers or {})
    response.headers["Cache-Control"] = "no-store"
    return secure_html(response)


@blp.route("/embed/<resource_id:poll_id>")
def embed_page(poll_id: str) -> Response:
    try:
        return render_embed(poll_id)
    except PollNotFound:
        return message_page("Not found", "This poll does not exist (yet).", 404)


@blp.route("/embed/<resource_id:poll_id>/vote", methods=["POST"])
def embed_vote(poll_id: str) -> BaseResponse:
    """A plain form vote: 303 back to the iframe page, or the page with what went wrong."""
    refusal = refuse_foreign_form_post()
    if refusal:
        return render_embed(poll_id, status_code=403, message=refusal)
    choice = request.form.get("choice")
    if choice not in ("yay", "nay"):
        return render_embed(poll_id, status_code=422, message="Choose YAY or NAY.")
    token, is_new = _reader_token()
    try:
        polls.cast_vote(core(), poll_id, choice, token, client())
    except YaynayError as error:
        if isinstance(error, PollNotFound):
            raise
        return render_embed(
            poll_id, status_code=status_of(error), message=error.message, headers=refusal_headers(error)
        )
    response = redirect(url_for("embed.embed_page", poll_id=poll_id) + "#tally", code=303)
    if is_new:
        _remember_reader(response, token)
    return response
