"""What an article page embeds: the widget script, and the iframe page that needs no JavaScript."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from flask import Blueprint, Response, abort, make_response, redirect, render_template, request, url_for
from marshmallow import ValidationError
from werkzeug.wrappers import Response as BaseResponse

from service.api.comments import PENDING_FRAGMENT, edit_schema, submit, submit_schema
from service.api.context import client, core, now
from service.api.errors import message_page, refusal_headers, status_of
from service.api.security import is_publisher_origin, normalized_origin, refuse_foreign_form_post, secure_html
from service.core import comments, polls
from service.core.policy import CommentLengths
from service.errors import PollNotFound, YaynayError
from service.identity import form_proof
from service.schemas import COMMENT_ID_PATTERN, VOTER_TOKEN_PATTERN, matches, present_comment, present_poll

blp = Blueprint("embed", __name__)

VOTER_COOKIE = "yaynay_voter"
# The reader's edit tokens, "<comment id>:<token>|...": what lets the iframe page offer
# "edit" and "delete" on their own comments and show them their own pending ones.
EDIT_COOKIE = "yaynay_edit"
# Newest comments whose tokens the cookie keeps: an entry is at most 110 bytes, so 16
# stay under 2 KiB, half of the 4 KiB a browser keeps of one cookie.
EDIT_TOKENS_KEPT = 16
_EDIT_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
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
    """Keep the voter token in the iframe page's cookie."""
    _set_cookie(response, VOTER_COOKIE, token)


def _set_cookie(response: BaseResponse, name: str, value: str) -> None:
    """An HttpOnly cookie of the iframe pages that also works inside a third-party iframe where
    the browser allows: SameSite=None needs Secure (so https, or localhost for development),
    and Partitioned (CHIPS) keeps it to this host page where third-party cookies are blocked
    but partitioned ones are not. A browser that refuses both simply never sends it back."""
    third_party_ready = request.is_secure or request.host.split(":")[0] in ("localhost", "127.0.0.1")
    response.set_cookie(
        name,
        value,
        max_age=IMMUTABLE_MAX_AGE,
        httponly=True,
        secure=third_party_ready,
        samesite="None" if third_party_ready else "Lax",
        partitioned=third_party_ready,
        path="/embed/",
    )


def edit_tokens() -> dict[str, str]:
    """The reader's edit tokens from the cookie, comment id -> token, oldest first; malformed
    entries are left out."""
    tokens: dict[str, str] = {}
    for entry in request.cookies.get(EDIT_COOKIE, "").split("|"):
        the_id, _, token = entry.partition(":")
        if matches(COMMENT_ID_PATTERN, the_id) and _EDIT_TOKEN.match(token):
            tokens[the_id] = token
    return tokens


def _keep_edit_tokens(response: BaseResponse, tokens: dict[str, str]) -> None:
    """Write the newest EDIT_TOKENS_KEPT tokens back to the cookie (none: the cookie goes)."""
    if not tokens:
        response.delete_cookie(EDIT_COOKIE, path="/embed/")
        return
    kept = list(tokens.items())[-EDIT_TOKENS_KEPT:]
    _set_cookie(response, EDIT_COOKIE, "|".join(f"{the_id}:{token}" for the_id, token in kept))


@dataclass(frozen=True)
class OwnComment:
    """What the iframe page offers on one of the reader's own comments."""

    proof: str
    editable: bool
    body: str


def _own_comments(poll_id: str, tokens: dict[str, str]) -> tuple[dict[str, OwnComment], list[dict[str, Any]]]:
    """The reader's comments on this thread: what is offered on each, and the unpublished ones
    (shown to them alone, as awaiting moderation), oldest first."""
    app_core = core()
    found = comments.own_comments(app_core, poll_id, tokens)
    window_open_since = now() - app_core.policy.edit_window
    offered = {
        comment.id: OwnComment(
            form_proof(app_core.secret_key, comment.id, tokens[comment.id]),
            comment.created_at >= window_open_since,
            comment.body,
        )
        for comment in found
    }
    unpublished = [present_comment(comment) for comment in found if comment.status != "approved"]
    return offered, unpublished


def render_embed(
    poll_id: str,
    *,
    status_code: int = 200,
    message: str | None = None,
    headers: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, Any] | None = None,
) -> Response:
    """The iframe page: question, tally, vote buttons, published comments (with edit and
    delete on the reader's own) and the reader's own pending ones, and a comment form
    (``values`` and ``errors``: what the reader typed, and what was wrong with it)."""
    app_core = core()
    poll = polls.get_poll(app_core, poll_id)
    own, unpublished = _own_comments(poll_id, edit_tokens())
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
        own=own,
        unpublished=unpublished,
        values=values or {},
        errors=errors or {},
        kept=kept_query(),
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


def _back_to_page(poll_id: str, fragment: str) -> BaseResponse:
    return redirect(url_for("embed.embed_page", poll_id=poll_id, **kept_query()) + f"#{fragment}", code=303)


@blp.route("/embed/<resource_id:poll_id>/comments", methods=["POST"])
def embed_comment(poll_id: str) -> BaseResponse:
    """A plain form comment from the iframe page: 303 back to it with the comment's edit token
    added to the reader's cookie, or the page with the text kept and what went wrong."""
    values = request.form.to_dict()
    refusal = refuse_foreign_form_post()
    if refusal:
        return render_embed(poll_id, status_code=403, message=refusal, values=values)
    try:
        data = submit_schema(form=True).load(values)
        submission = submit(poll_id, data)
    except ValidationError as error:
        message = "Please check the highlighted fields; nothing you typed is lost."
        return render_embed(poll_id, status_code=422, message=message, values=values, errors=error.messages)  # type: ignore[arg-type]
    except YaynayError as error:
        if isinstance(error, PollNotFound):
            raise
        return render_embed(
            poll_id, status_code=status_of(error), message=error.message, headers=refusal_headers(error), values=values
        )
    fragment = PENDING_FRAGMENT if submission.status == "pending" else f"comment-{submission.id}"
    response = _back_to_page(poll_id, fragment)
    if submission.edit_token:
        tokens = edit_tokens()
        tokens.pop(submission.id, None)
        tokens[submission.id] = submission.edit_token
        _keep_edit_tokens(response, tokens)
    return response


def _on_own_comment(poll_id: str, the_id: str, change: Callable[[str], BaseResponse]) -> BaseResponse:
    """Run ``change`` with the reader's edit token for the comment, when the form came from this
    service's page in the browser holding the token (the cookie and the page's proof); else,
    or when the core refuses, the page saying why."""
    refusal = refuse_foreign_form_post()
    token = edit_tokens().get(the_id) if the_id.rpartition(".")[0] == poll_id else None
    proof = request.form.get("proof", "")
    if refusal is None and (
        token is None or not hmac.compare_digest(proof, form_proof(core().secret_key, the_id, token))
    ):
        refusal = "This comment can only be changed from the page it was posted from, in the same browser."
    if refusal or token is None:
        return render_embed(poll_id, status_code=403, message=refusal)
    try:
        return change(token)
    except ValidationError as error:
        problems = " ".join(map(str, error.normalized_messages().get("body", [])))
        return render_embed(poll_id, status_code=422, message=f"Your edit was not saved: {problems}")
    except YaynayError as error:
        return render_embed(poll_id, status_code=status_of(error), message=error.message)


@blp.route("/embed/<resource_id:poll_id>/comments/<comment_id:the_id>/edit", methods=["POST"])
def embed_edit(poll_id: str, the_id: str) -> BaseResponse:
    """Edit one's own comment from the iframe page, within the edit window."""

    def edit(token: str) -> BaseResponse:
        body = edit_schema().load({"body": request.form.get("body", "")})["body"]
        edited = comments.edit_own_comment(core(), the_id, token, body)
        return _back_to_page(poll_id, PENDING_FRAGMENT if edited.status == "pending" else f"comment-{the_id}")

    return _on_own_comment(poll_id, the_id, edit)


@blp.route("/embed/<resource_id:poll_id>/comments/<comment_id:the_id>/delete", methods=["POST"])
def embed_delete(poll_id: str, the_id: str) -> BaseResponse:
    """Delete one's own comment from the iframe page, and forget its token."""

    def delete(token: str) -> BaseResponse:
        comments.delete_own_comment(core(), the_id, token)
        response = _back_to_page(poll_id, "comments")
        tokens = edit_tokens()
        tokens.pop(the_id, None)
        _keep_edit_tokens(response, tokens)
        return response

    return _on_own_comment(poll_id, the_id, delete)
