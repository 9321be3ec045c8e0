"""Polls: read tallies (one or many), create or update a poll, cast a vote."""

from __future__ import annotations

import datetime as dt

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from service.api import BEARER_AUTH, client_ip_digest, now, require_json_body
from service.auth import require_admin
from service.config import RateLimit
from service.errors import PollNotFound
from service.extensions import store
from service.identity import voter_digest
from service.ratelimit import rate_limit_headers
from service.schemas import (
    PollIdsQuerySchema,
    PollListSchema,
    PollSchema,
    PollUpdateSchema,
    VoteResultSchema,
    VoteSchema,
)
from service.store.polls import Poll, VoteLimits

blp = Blueprint("polls", __name__, url_prefix="/api/v1/polls", description="YAY/NAY polls and votes.")
blp.before_request(require_json_body)


def present(poll: Poll, at: float) -> dict:
    """A poll as PollSchema expects it."""
    closes_at = dt.datetime.fromtimestamp(poll.closes_at, dt.timezone.utc) if poll.closes_at else None
    return {
        "id": poll.id,
        "question": poll.question,
        "state": poll.state(at),
        "closes_at": closes_at,
        "allow_change": poll.allow_change,
        "tally": {"yay": poll.yay, "nay": poll.nay, "total": poll.total},
        "percent": poll.percent,
    }


def public_cache_headers() -> dict[str, str]:
    return {"Cache-Control": f"public, max-age={current_app.config['POLL_CACHE_MAX_AGE']}"}


@blp.route("")
class PollList(MethodView):
    @blp.etag
    @blp.arguments(PollIdsQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, PollListSchema)
    def get(self, ids):
        """Tallies of up to 100 polls at once, for article list pages."""
        at = now()
        polls = store.polls.get_many(ids)
        found = {poll.id for poll in polls}
        body = {"polls": [present(poll, at) for poll in polls],
                "missing": [poll_id for poll_id in ids if poll_id not in found]}
        return body, 200, public_cache_headers()


@blp.route("/<resource_id:poll_id>")
class PollItem(MethodView):
    @blp.etag
    @blp.response(200, PollSchema)
    @blp.alt_response(404, schema=None, description="No such poll.")
    def get(self, poll_id):
        """One poll with its tally; send If-None-Match to get 304 when nothing changed."""
        poll = store.polls.get(poll_id)
        if poll is None:
            raise PollNotFound(poll_id)
        return present(poll, now()), 200, public_cache_headers()

    @require_admin
    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(PollUpdateSchema)
    @blp.response(200, PollSchema, description="Updated; 201 when created.")
    def put(self, settings, poll_id):
        """Create or update a poll (admin). Its tally is kept."""
        closes_at = settings["closes_at"].timestamp() if settings["closes_at"] else None
        poll, created = store.polls.save(
            poll_id, question=settings["question"].strip(), closes_at=closes_at,
            allow_change=settings["allow_change"], now=now())
        return present(poll, now()), 201 if created else 200


@blp.route("/<resource_id:poll_id>/votes")
class PollVotes(MethodView):
    @blp.arguments(VoteSchema)
    @blp.response(200, VoteResultSchema)
    def post(self, ballot, poll_id):
        """Cast a vote, repeat it (no change) or change it (moves it between the tallies)."""
        config = current_app.config
        rate = RateLimit.parse(config["VOTE_RATE_LIMIT"])
        result = store.polls.cast_vote(
            poll_id,
            voter=voter_digest(config["SECRET_KEY"], poll_id, ballot["voter"]),
            choice=ballot["choice"],
            ip=client_ip_digest(),
            now=now(),
            limits=VoteLimits(rate.count, rate.window, config["VOTERS_PER_IP_PER_DAY"]),
            auto_create_up_to=config["MAX_POLLS"] if config["AUTO_CREATE_POLLS"] else 0,
        )
        poll = result.poll
        body = {"poll_id": poll_id, "vote": result.vote, "changed": result.changed,
                "tally": {"yay": poll.yay, "nay": poll.nay, "total": poll.total},
                "percent": poll.percent}
        return body, 200, rate_limit_headers(result.rate)
