"""The moderation queue: moderators review, approve, reject or mark spam, one by one or in bulk."""

from __future__ import annotations

import datetime as dt

from flask import current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint

from service.api import BEARER_AUTH, now, require_json_body
from service.auth import require_moderator
from service.errors import YaynayError, error_body
from service.extensions import store
from service.schemas import (
    BulkDecisionSchema,
    BulkResultSchema,
    DecisionResultSchema,
    DecisionSchema,
    LogPageSchema,
    LogQuerySchema,
    QueuePageSchema,
    QueueQuerySchema,
)
from service.store.comments import Comment, Decision

blp = Blueprint("moderation", __name__, url_prefix="/api/v1/moderation",
                description="Moderators' queue, decisions and audit log (bearer token).")
blp.before_request(require_json_body)


def _time(epoch: float | None):
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc) if epoch is not None else None


def present_for_moderator(comment: Comment) -> dict:
    return {
        "id": comment.id, "thread": comment.thread_id, "status": comment.status, "author": comment.author,
        "email": comment.email, "website": comment.website, "body": comment.body, "parent_id": comment.parent_id,
        "vote": comment.vote, "submitted_at": _time(comment.created_at), "ip_hash": comment.ip_digest,
        "user_agent": comment.user_agent,
        "signals": {"links": comment.links, "same_text_before": comment.same_text_count,
                    "recent_from_ip": comment.recent_from_ip, "surge": comment.surge},
        "decided_by": comment.decided_by, "decided_at": _time(comment.decided_at), "reason": comment.reason,
    }


def present_decision(decision: Decision) -> dict:
    return {"id": decision.id, "action": decision.action, "status": decision.status,
            "previous": decision.previous, "moderator": decision.moderator, "at": _time(decision.at)}


@blp.route("/queue")
class Queue(MethodView):
    @require_moderator
    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(QueueQuerySchema(), location="query", as_kwargs=True)
    @blp.response(200, QueuePageSchema())
    def get(self, status, thread, limit, cursor):
        """Comments of one status (pending by default), oldest first, with moderators' signals."""
        page = store.comments.queue(status, thread_id=thread, limit=limit or 50, cursor=cursor)
        return {"comments": [present_for_moderator(c) for c in page.items], "next_cursor": page.next_cursor,
                "surge": store.comments.surge(now(), current_app.config["PENDING_SURGE_PER_HOUR"])}


@blp.route("/comments/<comment_id:comment_id>")
class CommentDecision(MethodView):
    @require_moderator
    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(DecisionSchema())
    @blp.response(200, DecisionResultSchema())
    @blp.alt_response(409, schema=None, description="Another decision stands; the body names it.")
    def post(self, decision, comment_id):
        """Approve, reject, mark as spam or delete one comment; the first decision wins."""
        result = store.comments.decide(comment_id, decision["action"], moderator=g.moderator.name, now=now(),
                                       reason=decision["reason"], seen=decision["seen"])
        return present_decision(result)


@blp.route("/decisions")
class BulkDecisions(MethodView):
    @require_moderator
    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(BulkDecisionSchema())
    @blp.response(200, BulkResultSchema())
    def post(self, bulk):
        """Up to 100 decisions at once; each item reports its own outcome."""
        items = [(item["id"], item["action"], item["reason"], item["seen"]) for item in bulk["decisions"]]
        outcomes = store.comments.decide_many(items, moderator=g.moderator.name, now=now())
        results = []
        for (comment_id, *_), outcome in zip(items, outcomes, strict=False):
            if isinstance(outcome, YaynayError):
                results.append({"id": comment_id, "ok": False,
                                "error": error_body(outcome.status_code, outcome.message, outcome.errors),
                                "standing": getattr(outcome, "standing", None)})
            else:
                results.append({"id": comment_id, "ok": True, "decision": present_decision(outcome)})
        return {"results": results}


@blp.route("/log")
class Log(MethodView):
    @require_moderator
    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(LogQuerySchema(), location="query", as_kwargs=True)
    @blp.response(200, LogPageSchema())
    def get(self, limit, cursor):
        """Who decided what, when and why; newest first."""
        page = store.comments.log(limit=limit or 50, cursor=cursor)
        return {"entries": [{**entry.__dict__, "at": _time(entry.at)} for entry in page.items],
                "next_cursor": page.next_cursor}
