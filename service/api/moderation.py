"""The moderation queue: moderators review, approve, reject or mark spam, one by one or in bulk."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from service.api.context import caller, core
from service.api.errors import refusal_body
from service.api.io import answers, needs, takes
from service.core import moderation, threads
from service.core.moderation import DecisionOutcome, DecisionRequest
from service.core.tokens import MODERATOR
from service.schemas import (
    AdminPageQuerySchema,
    BulkDecisionSchema,
    BulkResultSchema,
    DecisionResultSchema,
    DecisionSchema,
    LogPageSchema,
    LogQuerySchema,
    QueuePageSchema,
    QueueQuerySchema,
    ThreadPageSchema,
    present_decision,
    present_for_moderator,
    present_log_entry,
    present_thread,
)

blp = Blueprint(
    "moderation",
    __name__,
    url_prefix="/api/v1/moderation",
    description="Moderators' queue, decisions and audit log (bearer token).",
)


def present_outcome(outcome: DecisionOutcome) -> dict[str, Any]:
    """One item of a bulk answer: the decision, or the refusal in the one error shape."""
    if outcome.refusal is not None:
        body = refusal_body(outcome.refusal)
        return {"id": outcome.comment_id, "ok": False, "error": body, "standing": body.pop("standing", None)}
    assert outcome.decision is not None
    return {"id": outcome.comment_id, "ok": True, "decision": present_decision(outcome.decision)}


@blp.route("/queue")
class Queue(MethodView):
    @needs(blp, MODERATOR)
    @answers(blp, 200, QueuePageSchema())
    @takes(blp, QueueQuerySchema(), location="query")
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Comments of one status (pending by default), oldest first, with moderators' signals,
        the comment each replies to, and the thread's article when recorded."""
        page = moderation.queue(
            core(), query["status"], thread_id=query["thread"], limit=query["limit"], cursor=query["cursor"]
        )
        context = threads.context_of(core(), page.comments)
        return {
            "comments": [present_for_moderator(c, context) for c in page.comments],
            "next_cursor": page.next_cursor,
            "surge": page.surge.__dict__,
        }


@blp.route("/comments/<comment_id:comment_id>")
class CommentDecision(MethodView):
    @needs(blp, MODERATOR)
    @answers(blp, 200, DecisionResultSchema(), alternatives={409: "Another decision stands; the body names it."})
    @takes(blp, DecisionSchema())
    def post(self, decision: dict[str, Any], comment_id: str) -> dict[str, Any]:
        """Approve, reject, mark as spam or delete one comment; the first decision wins."""
        request = DecisionRequest(comment_id, decision["action"], decision["reason"], decision["seen"])
        return present_decision(moderation.decide(core(), request, moderator=caller().name))


@blp.route("/decisions")
class BulkDecisions(MethodView):
    @needs(blp, MODERATOR)
    @answers(blp, 200, BulkResultSchema())
    @takes(blp, BulkDecisionSchema())
    def post(self, bulk: dict[str, Any]) -> dict[str, Any]:
        """Up to 100 decisions at once; each item reports its own outcome."""
        requests = [
            DecisionRequest(item["id"], item["action"], item["reason"], item["seen"]) for item in bulk["decisions"]
        ]
        outcomes = moderation.decide_many(core(), requests, moderator=caller().name)
        return {"results": [present_outcome(outcome) for outcome in outcomes]}


@blp.route("/log")
class Log(MethodView):
    @needs(blp, MODERATOR)
    @answers(blp, 200, LogPageSchema())
    @takes(blp, LogQuerySchema(), location="query")
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Who decided what, when and why; newest first."""
        page = moderation.log(core(), limit=query["limit"], cursor=query["cursor"])
        return {"entries": [present_log_entry(entry) for entry in page.items], "next_cursor": page.next_cursor}


@blp.route("/threads")
class Threads(MethodView):
    @needs(blp, MODERATOR)
    @answers(blp, 200, ThreadPageSchema())
    @takes(blp, AdminPageQuerySchema(), location="query")
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Every comment thread, newest first, with its comments counted by status and its article."""
        page = threads.list_threads(core(), limit=query["limit"], cursor=query["cursor"])
        return {
            "threads": [present_thread(thread) for thread in page.threads],
            "next_cursor": page.next_cursor,
            "total": page.total,
        }
