"""Comments: submitted as JSON (the widget) or as a plain HTML form, read when approved."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import Response, make_response, redirect, render_template, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import ValidationError
from werkzeug.wrappers import Response as BaseResponse

from service.api.caching import Rendered, cached_answer
from service.api.context import client, core
from service.api.errors import errors_of, rate_limit_headers, refusal_headers, status_of
from service.api.io import answers, takes
from service.api.security import is_publisher_origin, refuse_foreign_form_post, secure_html
from service.core import comments
from service.core.comments import CommentDraft, Submission
from service.errors import CommentNotFound, YaynayError
from service.schemas import (
    CommentEditSchema,
    CommentFormSchema,
    CommentPageQuerySchema,
    CommentPageSchema,
    CommentSubmitSchema,
    EditedSchema,
    SubmissionSchema,
    ThreadCountsSchema,
    ThreadIdsQuerySchema,
    comment_submit_schema,
    present_comment,
)

COMMENT_PAGE_SCHEMA = CommentPageSchema()
PENDING_FRAGMENT = "yaynay-comment-pending"

blp = Blueprint(
    "comments",
    __name__,
    url_prefix="/api/v1/threads",
    description="Comment threads: submit (JSON or form) and read approved comments.",
)


def submit_schema(*, form: bool = False) -> CommentSubmitSchema:
    """The comment schema under this app's lengths and honeypot field."""
    policy = core().policy
    return comment_submit_schema(policy.comment_lengths, policy.honeypot_field, form=form)


def draft_of(data: dict[str, Any]) -> CommentDraft:
    """The core's draft of a loaded submission (``return_to`` is the web layer's)."""
    return CommentDraft(
        author=data["author"],
        body=data["body"],
        email=data.get("email"),
        website=data.get("website"),
        parent_id=data.get("parent_id"),
        voter=data.get("voter"),
        honeypot=data["honeypot"],
        page_url=allowed_return_url(data.get("page_url")),
    )


def submit(thread_id: str, data: dict[str, Any]) -> Submission:
    """Hand a loaded submission, with who sent it, to the core."""
    return comments.submit_comment(
        core(), thread_id, draft_of(data), client(), idempotency_key=request.headers.get("Idempotency-Key")
    )


def allowed_return_url(url: str | None) -> str | None:
    """``url`` when its origin is this service's own or one of ALLOWED_ORIGINS, else None.

    Never an open redirect: the origin is compared whole, so look-alike hosts fail.
    """
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. "Invalid IPv6 URL": no page of the publisher's either
        return None
    if parts.scheme not in ("http", "https") or not is_publisher_origin(f"{parts.scheme}://{parts.netloc}"):
        return None
    return urlunsplit(parts._replace(fragment=""))


def form_page(
    thread_id: str,
    values: dict[str, Any],
    *,
    status_code: int,
    errors: dict[str, Any] | None = None,
    message: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The comment form again, naming each problem, with everything the reader typed."""
    html = render_template(
        "comment_form.html", thread_id=thread_id, values=values, errors=errors or {}, message=message
    )
    return secure_html(make_response(html, status_code, {"Cache-Control": "no-store", **(headers or {})}))


def submit_form(thread_id: str) -> BaseResponse:
    """A plain ``<form method="post">``: 303 back to the article, or the form again with the text kept."""
    values = request.form.to_dict()
    refusal = refuse_foreign_form_post()
    if refusal:
        values.pop("return_to", None)
        return form_page(thread_id, values, status_code=403, message=refusal)
    return_to = values.get("return_to") or request.headers.get("Referer")
    try:
        data = submit_schema(form=True).load(values)
    except ValidationError as error:
        return form_page(
            thread_id,
            values,
            status_code=422,
            errors=error.messages,  # type: ignore[arg-type]
            message="Please check the highlighted fields; nothing you typed is lost.",
        )
    target = allowed_return_url(return_to)
    if return_to and target is None:
        values.pop("return_to", None)
        return form_page(
            thread_id,
            values,
            status_code=403,
            message=("This form may only return to the publisher's own pages; your comment was not sent."),
            errors={"return_to": ["Not a page of this site."]},
        )
    try:
        submission = submit(thread_id, data)
    except YaynayError as error:
        field_errors = {name: problems for location in errors_of(error).values() for name, problems in location.items()}
        return form_page(
            thread_id,
            values,
            status_code=status_of(error),
            errors=field_errors,
            message=error.message,
            headers=refusal_headers(error),
        )
    if target is None:
        return secure_html(make_response(render_template("comment_received.html", submission=submission), 200))
    fragment = PENDING_FRAGMENT if submission.status == "pending" else f"comment-{submission.id}"
    return redirect(f"{target}#{fragment}", code=303)


@blp.route("")
class ThreadCounts(MethodView):
    @answers(blp, 200, ThreadCountsSchema(), etag=True)
    @takes(blp, ThreadIdsQuerySchema(), location="query")
    def get(self, query: dict[str, Any]) -> Rendered:
        """Approved-comment counts of up to 100 threads ("2 Responses" on list pages)."""
        counts = comments.approved_counts(core(), query["ids"])
        return Rendered.of(
            ThreadCountsSchema().dump(
                {"threads": [{"id": thread_id, "count": counts[thread_id]} for thread_id in query["ids"]]}
            )
        )


def render_page(thread_id: str, limit: int | None, cursor: str | None, sort: str = "oldest") -> Rendered:
    """One page of a thread's approved comments, with each author's live vote."""
    page = comments.read_thread(core(), thread_id, limit=limit, cursor=cursor, newest_first=sort == "newest")
    return Rendered.of(
        COMMENT_PAGE_SCHEMA.dump(
            {
                "count": page.extra["count"],
                "comments": [present_comment(c) for c in page.items],
                "next_cursor": page.next_cursor,
            }
        )
    )


@blp.route("/<resource_id:thread_id>/comments")
class ThreadComments(MethodView):
    @answers(blp, 200, CommentPageSchema(), etag=True)
    @takes(blp, CommentPageQuerySchema(), location="query")
    def get(self, page: dict[str, Any], thread_id: str) -> Rendered | None:
        """Approved comments, oldest or newest first, with cursor pagination; never an email or an IP."""
        limit, cursor, sort = page["limit"], page["cursor"], page["sort"]
        # Tagged with the thread id, which is also its poll's: a vote there may change an
        # author's live vote shown on the page.
        return cached_answer(
            ("thread", thread_id, limit, cursor, sort), thread_id, lambda: render_page(thread_id, limit, cursor, sort)
        )

    @answers(
        blp,
        202,
        SubmissionSchema(),
        description="Held for moderation (201 when moderation is off). "
        "A form post is answered 303 See Other to return_to or the Referer.",
        alternatives={
            201: "Published at once (moderation is off).",
            303: "Form posts: back to the article.",
            409: "A reply whose parent is not a published comment of the thread.",
            422: "Invalid fields (form posts: the form again, text kept).",
            429: "Too many comments, or new threads today, from this network; Retry-After says when to try again.",
        },
        pages={
            200: "Form posts without a page to return to: a confirmation page.",
            403: "Form posts sent from another site's page, or returning to one; nothing was stored.",
            409: "Form posts: the form again, text kept, saying why.",
            422: "Form posts: the form again, text kept, each problem named.",
            429: "Form posts: the form again, text kept, with Retry-After.",
            503: "Form posts: the form again, text kept, with Retry-After.",
        },
    )
    @takes(blp, CommentSubmitSchema(), forms=CommentFormSchema(), configured=submit_schema)
    def post(self, data: dict[str, Any] | None, thread_id: str) -> BaseResponse | tuple[Any, int, dict[str, str]]:
        """Submit a comment, from the widget (JSON) or from a plain HTML form on the article."""
        if data is None:
            return submit_form(thread_id)
        submission = submit(thread_id, data)
        headers = rate_limit_headers(submission.rate) if submission.rate else {}
        return (
            {"id": submission.id, "status": submission.status, "edit_token": submission.edit_token},
            202 if submission.status == "pending" else 201,
            headers,
        )


def edit_schema() -> CommentEditSchema:
    """The edit schema under this app's body length."""
    return CommentEditSchema(lengths=core().policy.comment_lengths)


EDIT_TOKEN_HEADER = "Yaynay-Edit-Token"
EDIT_TOKEN_DOC = {
    "parameters": [
        {
            "in": "header",
            "name": EDIT_TOKEN_HEADER,
            "required": False,
            "schema": {"type": "string", "maxLength": 200},
            "description": "The edit_token the comment's submission answered with.",
        }
    ]
}
OWN_COMMENT_REFUSALS = {
    403: "The edit token is missing or is not this comment's.",
    404: "No such comment in this thread.",
}


def own_comment_id(thread_id: str, the_id: str) -> str:
    """The comment id when it belongs to the thread in the path; else CommentNotFound."""
    if the_id.rpartition(".")[0] != thread_id:
        raise CommentNotFound(the_id)
    return the_id


@blp.route("/<resource_id:thread_id>/comments/<comment_id:the_id>")
class OwnComment(MethodView):
    @blp.doc(**EDIT_TOKEN_DOC)
    @answers(
        blp,
        200,
        EditedSchema(),
        alternatives={
            **OWN_COMMENT_REFUSALS,
            409: "The edit window (EDIT_WINDOW) has passed; the comment may still be deleted.",
            422: "Invalid body.",
        },
    )
    @takes(blp, CommentEditSchema(), configured=edit_schema)
    def patch(self, data: dict[str, Any], thread_id: str, the_id: str) -> dict[str, Any]:
        """Edit one's own comment within the edit window; a published one waits for a moderator again
        under pre-moderation."""
        edited = comments.edit_own_comment(
            core(), own_comment_id(thread_id, the_id), request.headers.get(EDIT_TOKEN_HEADER), data["body"]
        )
        return {"id": edited.id, "status": edited.status}

    @blp.doc(**EDIT_TOKEN_DOC)
    @answers(blp, 204, alternatives=OWN_COMMENT_REFUSALS)
    def delete(self, thread_id: str, the_id: str) -> tuple[None, int]:
        """Delete one's own comment, at any time."""
        comments.delete_own_comment(core(), own_comment_id(thread_id, the_id), request.headers.get(EDIT_TOKEN_HEADER))
        return None, 204
