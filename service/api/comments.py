"""Comments: submitted as JSON (the widget) or as a plain HTML form, read when approved."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from urllib.parse import urlsplit, urlunsplit

from flask import current_app, make_response, redirect, render_template, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import EXCLUDE, ValidationError

from service.api import (
    Rendered,
    cached_answer,
    client_ip_digest,
    documented,
    is_publisher_origin,
    load_json,
    load_query,
    now,
    public_cache_headers,
    public_json,
    refuse_foreign_form_post,
    require_json_body,
    secure_html,
)
from service.errors import YaynayError
from service.extensions import store
from service.identity import email_digest, idempotency_digest, text_digest, voter_digest
from service.ratelimit import RateLimit, rate_limit_headers
from service.schemas import (
    CommentPageQuerySchema,
    CommentPageSchema,
    CommentSubmitSchema,
    SubmissionSchema,
    ThreadCountsSchema,
    ThreadIdsQuerySchema,
)
from service.store.comments import Comment, CommentLimits, NewComment, Submission

COMMENT_PAGE_SCHEMA = CommentPageSchema()
COMMENT_PAGE_QUERY_SCHEMA = CommentPageQuerySchema()
COMMENT_SUBMIT_SCHEMA = CommentSubmitSchema()

blp = Blueprint("comments", __name__, url_prefix="/api/v1/threads",
                description="Comment threads: submit (JSON or form) and read approved comments.")

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
PENDING_FRAGMENT = "yaynay-comment-pending"
_LINK = re.compile(r"https?://|www\.", re.IGNORECASE)


def present(comment: Comment) -> dict:
    """A published comment as CommentSchema expects it."""
    return {"id": comment.id, "author": comment.author, "website": comment.website, "body": comment.body,
            "created_at": dt.datetime.fromtimestamp(comment.created_at, dt.timezone.utc),
            "parent_id": comment.parent_id, "vote": comment.vote}


def comment_limits() -> CommentLimits:
    config = current_app.config
    return CommentLimits(
        rates=tuple(RateLimit.parse(text) for text in config["COMMENT_RATE_LIMITS"]),
        max_threads=config["MAX_THREADS"], surge_per_hour=config["PENDING_SURGE_PER_HOUR"],
        duplicate_window=config["DUPLICATE_WINDOW"], idempotency_ttl=config["IDEMPOTENCY_TTL"])


def submit(thread_id: str, data: dict) -> Submission:
    """Store a validated submission; a filled honeypot is answered as if stored, and dropped."""
    status = "pending" if current_app.config["MODERATION"] == "pre" else "approved"
    if data["honeypot"]:
        return Submission(id=f"{thread_id}.{secrets.token_hex(4)[:8]}", status=status, created=False)
    secret = current_app.config["SECRET_KEY"]
    ip = client_ip_digest()
    idempotency_key = request.headers.get("Idempotency-Key", "")[:255]
    comment = NewComment(
        author=data["author"], body=data["body"], email=data["email"], website=data["website"],
        parent_id=data["parent_id"],
        voter=voter_digest(secret, thread_id, data["voter"]) if data["voter"] else None,
        ip_digest=ip, user_agent=request.headers.get("User-Agent", "")[:300],
        text_digest=text_digest(secret, data["body"]),
        email_digest=email_digest(secret, data["email"]) if data["email"] else None,
        idempotency_digest=idempotency_digest(secret, ip, idempotency_key) if idempotency_key else None,
        links=len(_LINK.findall(data["body"])),
    )
    return store.comments.submit(thread_id, comment, status=status, now=now(), limits=comment_limits())


def allowed_return_url(url: str | None) -> str | None:
    """``url`` when its origin is this service's own or one of ALLOWED_ORIGINS, else None.

    Never an open redirect: the origin is compared whole, so look-alike hosts fail.
    """
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not is_publisher_origin(f"{parts.scheme}://{parts.netloc}"):
        return None
    return urlunsplit(parts._replace(fragment=""))


def form_page(thread_id: str, values: dict, *, status_code: int, errors: dict | None = None,
              message: str | None = None, headers: dict | None = None):
    """The comment form again, naming each problem, with everything the reader typed."""
    html = render_template("comment_form.html", thread_id=thread_id, values=values, errors=errors or {},
                           message=message, honeypot_field=current_app.config["HONEYPOT_FIELD"])
    return secure_html(make_response(html, status_code, {"Cache-Control": "no-store", **(headers or {})}))


def submit_form(thread_id: str):
    """A plain ``<form method="post">``: 303 back to the article, or the form again with the text kept."""
    values = request.form.to_dict()
    refusal = refuse_foreign_form_post()
    if refusal:
        values.pop("return_to", None)
        return form_page(thread_id, values, status_code=403, message=refusal)
    return_to = values.get("return_to") or request.headers.get("Referer")
    try:
        data = CommentSubmitSchema(unknown=EXCLUDE).load(values)
    except ValidationError as error:
        return form_page(thread_id, values, status_code=422, errors=error.messages,
                         message="Please check the highlighted fields; nothing you typed is lost.")
    target = allowed_return_url(return_to)
    if return_to and target is None:
        values.pop("return_to", None)
        return form_page(thread_id, values, status_code=400, message=(
            "This form may only return to the publisher's own pages; your comment was not sent."),
            errors={"return_to": ["Not a page of this site."]})
    try:
        submission = submit(thread_id, data)
    except YaynayError as error:
        field_errors = {name: messages for location in error.errors.values() for name, messages in location.items()}
        return form_page(thread_id, values, status_code=error.status_code, errors=field_errors,
                         message=error.message, headers=error.headers)
    if target is None:
        return secure_html(make_response(render_template("comment_received.html", submission=submission), 200))
    fragment = PENDING_FRAGMENT if submission.status == "pending" else f"comment-{submission.id}"
    return redirect(f"{target}#{fragment}", code=303)


@blp.route("")
class ThreadCounts(MethodView):
    @blp.etag
    @blp.arguments(ThreadIdsQuerySchema(), location="query", as_kwargs=True)
    @blp.response(200, ThreadCountsSchema())
    def get(self, ids):
        """Approved-comment counts of up to 100 threads ("2 Responses" on list pages)."""
        counts = store.comments.approved_counts(ids)
        return {"threads": [{"id": thread_id, "count": counts[thread_id]} for thread_id in ids]}, 200, \
            public_cache_headers()


def render_page(thread_id: str, limit: int, cursor: str | None) -> Rendered:
    """One page of a thread's approved comments, with each author's live vote."""
    page = store.comments.approved(thread_id, limit=limit, cursor=cursor)
    return Rendered.of(COMMENT_PAGE_SCHEMA.dump({
        "count": page.extra["count"], "comments": [present(c) for c in page.items],
        "next_cursor": page.next_cursor}))


@blp.route("/<resource_id:thread_id>/comments")
class ThreadComments(MethodView):
    @documented(
        blp.arguments(CommentPageQuerySchema(), location="query"),
        blp.response(200, CommentPageSchema()),
        blp.alt_response(304, schema=None, description="Not modified: the client's ETag still holds."),
    )
    def get(self, thread_id):
        """Approved comments, oldest first, with cursor pagination; never an email or an IP."""
        page = load_query(COMMENT_PAGE_QUERY_SCHEMA)
        limit, cursor = page["limit"] or current_app.config["COMMENTS_PAGE_SIZE"], page["cursor"]
        # Tagged with the thread id, which is also its poll's: a vote there may change an
        # author's live vote shown on the page.
        return public_json(cached_answer(("thread", thread_id, limit, cursor), thread_id,
                                         lambda: render_page(thread_id, limit, cursor)))

    @blp.doc(requestBody={"required": True, "content": {
        "application/json": {"schema": CommentSubmitSchema},
        FORM_CONTENT_TYPE: {"schema": CommentSubmitSchema},
    }})
    @blp.response(202, SubmissionSchema(), description="Held for moderation (201 when moderation is off). "
                  "A form post is answered 303 See Other to return_to or the Referer.")
    @blp.alt_response(303, schema=None, description="Form posts: back to the article.")
    @blp.alt_response(422, schema=None, description="Invalid fields (form posts: the form again, text kept).")
    def post(self, thread_id):
        """Submit a comment, from the widget (JSON) or from a plain HTML form on the article."""
        if request.mimetype == FORM_CONTENT_TYPE:
            return submit_form(thread_id)
        require_json_body()
        data = load_json(COMMENT_SUBMIT_SCHEMA)
        submission = submit(thread_id, data)
        code = 202 if submission.status == "pending" else 201
        headers = rate_limit_headers(submission.rate) if submission.rate else {}
        return {"id": submission.id, "status": submission.status}, code, headers
