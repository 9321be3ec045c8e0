"""The moderation queue: moderators review, approve, reject or mark spam, one by one or in bulk."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from service.api.context import caller, core
from service.api.errors import refusal_body
from service.api.io import answers, needs, takes
from service.core import mail, moderation, spam, threads
from service.core.moderation import DecisionOutcome, DecisionRequest
from service.core.tokens import MODERATOR
from service.errors import SubscriberNotFound
from service.schemas import (
    AdminPageQuerySchema,
    BanCreateSchema,
    BanListSchema,
    BanSchema,
    BulkDecisionSchema,
    BulkResultSchema,
    DecisionResultSchema,
    DecisionSchema,
    IntegritySchema,
    LogPageSchema,
    LogQuerySchema,
    MailSubscriberListSchema,
    MailSubscriberSchema,
    QueuePageSchema,
    QueueQuerySchema,
    RuleCreateSchema,
    RuleListSchema,
    RuleSchema,
    ThreadPageSchema,
    present_ban,
    present_decision,
    present_for_moderator,
    present_integrity,
    present_log_entry,
    present_rule,
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


@blp.route("/blocklist")
class Blocklist(MethodView):
    @needs(blp, MODERATOR)
    @answers(blp, 200, RuleListSchema())
    def get(self) -> dict[str, Any]:
        """Every blocklist rule, oldest first."""
        return {"rules": [present_rule(rule) for rule in spam.list_rules(core())]}

    @needs(blp, MODERATOR)
    @answers(blp, 201, RuleSchema(), alternatives={422: "Bad kind, action or value; errors name it."})
    @takes(blp, RuleCreateSchema())
    def post(self, new: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """Hold or reject comments holding a word or phrase, linking a domain, or sent from an
        email or an IP digest. The reader of a rejected comment is answered as if it were held."""
        rule = spam.add_rule(core(), new["kind"], new["value"], new["action"], moderator=caller().name)
        return present_rule(rule), 201


@blp.route("/blocklist/<spam_tool_id:rule_id>")
class BlocklistRule(MethodView):
    @needs(blp, MODERATOR)
    @answers(blp, 204, description="Deleted.", alternatives={404: "No rule with that id."})
    def delete(self, rule_id: str) -> tuple[None, int]:
        """Delete a blocklist rule."""
        spam.remove_rule(core(), rule_id)
        return None, 204


@blp.route("/bans")
class Bans(MethodView):
    @needs(blp, MODERATOR)
    @answers(blp, 200, BanListSchema())
    def get(self) -> dict[str, Any]:
        """Bans in force, oldest first."""
        return {"bans": [present_ban(ban) for ban in spam.list_bans(core())]}

    @needs(blp, MODERATOR)
    @answers(
        blp,
        201,
        BanSchema(),
        alternatives={404: "No comment with that id.", 409: "Nothing to ban: neither ip nor email, or no email."},
    )
    @takes(blp, BanCreateSchema())
    def post(self, new: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """Ban a queue item's IP digest and/or email digest for ``duration`` seconds: their
        comments are stored as rejected and answered as if held, never refused outright."""
        ban = spam.ban_from_comment(
            core(),
            new["comment_id"],
            ip=new["ip"],
            email=new["email"],
            duration=new["duration"],
            moderator=caller().name,
        )
        return present_ban(ban), 201


@blp.route("/bans/<spam_tool_id:ban_id>")
class BanItem(MethodView):
    @needs(blp, MODERATOR)
    @answers(blp, 204, description="Lifted.", alternatives={404: "No ban with that id."})
    def delete(self, ban_id: str) -> tuple[None, int]:
        """Lift a ban now."""
        spam.lift_ban(core(), ban_id)
        return None, 204


@blp.route("/mail")
class MailSubscribers(MethodView):
    @needs(blp, MODERATOR)
    @answers(blp, 200, MailSubscriberListSchema())
    def get(self) -> dict[str, Any]:
        """Every address mailed the digest of pending comments and the surge alerts."""
        return {"subscribers": [{"email": address} for address in mail.subscribers(core())]}

    @needs(blp, MODERATOR)
    @answers(blp, 201, MailSubscriberSchema(), alternatives={200: "Already subscribed.", 422: "Not a mail address."})
    @takes(blp, MailSubscriberSchema())
    def post(self, new: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """Mail ``email`` the digests and surge alerts (``yaynay worker`` sends them through SMTP_URL)."""
        added = mail.subscribe(core(), new["email"])
        return {"email": new["email"]}, 201 if added else 200


@blp.route("/mail/<mail_address:email>")
class MailSubscriber(MethodView):
    @needs(blp, MODERATOR)
    @answers(blp, 204, description="Unsubscribed.", alternatives={404: "That address is not subscribed."})
    def delete(self, email: str) -> tuple[None, int]:
        """Stop mailing ``email``."""
        if not mail.unsubscribe(core(), email):
            raise SubscriberNotFound(email)
        return None, 204


@blp.route("/polls/<resource_id:poll_id>/integrity")
class PollIntegrity(MethodView):
    @needs(blp, MODERATOR)
    @answers(blp, 200, IntegritySchema(), alternatives={404: "No poll with that id."})
    def get(self, poll_id: str) -> dict[str, Any]:
        """Whether a brigade is at work: votes a minute, new voters refused by the per-IP
        ceiling and their share, vote changes, and the busiest IP digests (counts only)."""
        return present_integrity(poll_id, spam.integrity(core(), poll_id))
