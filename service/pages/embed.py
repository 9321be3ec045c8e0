"""What an article page embeds: the widget script, and the iframe page that needs no JavaScript."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from flask import Blueprint, Response, abort, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from service.api.context import client, core, now
from service.api.errors import message_page, refusal_headers, status_of
from service.api.security import is_publisher_origin, normalized_origin, refuse_foreign_form_post, secure_html
from service.core import comments, polls
from service.core.policy import CommentLengths
from service.errors import PollNotFound, YaynayError
from service.schemas import VOTER_TOKEN_PATTERN, matches, present_comment, present_poll

blp = Blueprint("embed", __name__)

VOTER_COOKIE = "yaynay_voter"
WIDGET_MAX_AGE = 86400
IMMUTABLE_MAX_AGE = 365 * 86400
_LENGTHS_IN_WIDGET = re.compile(rb"/\*yaynay:lengths\*/\{[^}]*\}")
# The same links widget.js makes: http(s) only, trailing punctuation left outside.
_LINK = re.compile(r"\bhttps?://[^\s<>\"']+", re.IGNORECASE)
_TRAILING = ".,;:!?)]"
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")


@dataclass(frozen=True)
class TextPart:
    """A piece of a comment body: plain text, or a link (``url`` set) shown as its address."""

    text: str
    url: str | None = None


def link_parts(body: str) -> list[TextPart]:
    """A comment body split into text and http(s) link parts, for a template to escape each."""
    parts: list[TextPart] = []
    last = 0
    for match in _LINK.finditer(body):
        url = match.group(0).rstrip(_TRAILING)
        if match.start() > last:
            parts.append(TextPart(body[last : match.start()]))
        parts.append(TextPart(url, url))
        last = match.start() + len(url)
    if last < len(body):
        parts.append(TextPart(body[last:]))
    return parts


def page_language() -> str:
    """The reader's language: ``?lang=`` when well formed, else Accept-Language's first, else English."""
    asked = request.args.get("lang", "")
    if _LANGUAGE.match(asked):
        return asked
    best = request.accept_languages.best
    return best if best and _LANGUAGE.match(best) else "en"


def host_origin() -> str | None:
    """The page framing us, from ``?host=``, when it is one of the publisher's origins: the only
    target the page's height is posted to."""
    host = request.args.get("host", "")
    if not host.startswith(("http://", "https://")) or not is_publisher_origin(host):
        return None
    return normalized_origin(host)


def kept_query() -> dict[str, Any]:
    """The iframe page's own parameters, kept across its form posts and redirects."""
    return {name: request.args[name] for name in ("host", "lang", "sort") if request.args.get(name)}


@blp.app_template_filter("link_parts")
def link_parts_filter(body: str) -> list[TextPart]:
    return link_parts(body)


@cache
def widget_source(lengths: CommentLengths, edit_window: int = 900) -> tuple[bytes, str]:
    """The widget script with this app's comment lengths and edit window written in, and its
    version (a hash of it)."""
    source = files("service").joinpath("static", "widget.js").read_bytes()
    written = json.dumps({"author": lengths.author, "body": lengths.body, "edit": edit_window}).encode()
    source = _LENGTHS_IN_WIDGET.sub(lambda _: b"/*yaynay:lengths*/" + written, source)
    return source, hashlib.sha256(source).hexdigest()[:12]


def current_widget() -> tuple[bytes, str]:
    policy = core().policy
    return widget_source(policy.comment_lengths, policy.edit_window)


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


@cache
def resizer_source() -> tuple[bytes, str]:
    """The host page's iframe resizer script, and its version (a hash of it)."""
    source = files("service").joinpath("static", "embed.js").read_bytes()
    return source, hashlib.sha256(source).hexdigest()[:12]


@blp.route("/embed.js")
def resizer() -> BaseResponse:
    """The optional script a host page adds to fit the iframe to its content; cached like the widget."""
    source, version = resizer_source()
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
    sort = request.args.get("sort") if request.args.get("sort") in ("oldest", "newest") else "oldest"
    page = comments.read_thread(app_core, poll_id, newest_first=sort == "newest")
    html = render_template(
        "embed.html",
        sort=sort,
        lang=page_language(),
        host=host_origin(),
        poll=present_poll(poll, now()),
        choice=choice,
        message=message,
        comments=[present_comment(comment) for comment in page.items],
        comment_count=page.extra["count"],
        kept=kept_query(),
        return_to=url_for("embed.embed_page", poll_id=poll_id, _external=True, **kept_query()),
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
    response = redirect(url_for("embed.embed_page", poll_id=poll_id, **kept_query()) + "#tally", code=303)
    if is_new:
        _remember_reader(response, token)
    return response
