"""Polls: read tallies (one or many), create or update a poll, cast a vote."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import replace

from flask import Response, current_app, render_template, request
from flask.views import MethodView
from flask_smorest import Blueprint

from service.api import (
    BEARER_AUTH,
    Rendered,
    cached_answer,
    client_ip_digest,
    documented,
    json_response,
    load_json,
    load_query,
    now,
    public_cache_headers,
    public_json,
    require_json_body,
)
from service.auth import require_admin
from service.errors import PollNotFound, YaynayError
from service.extensions import store
from service.identity import voter_digest
from service.ratelimit import RateLimit, rate_limit_headers
from service.schemas import (
    PollIdsQuerySchema,
    PollListSchema,
    PollSchema,
    PollUpdateSchema,
    VoteResultSchema,
    VoteSchema,
)
from service.store.events import Inbox
from service.store.polls import Poll, VoteLimits, VoteResult

VOTE_SCHEMA = VoteSchema()
POLL_IDS_QUERY_SCHEMA = PollIdsQuerySchema()
VOTE_RESULT_SCHEMA = VoteResultSchema()
POLL_SCHEMA = PollSchema()

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
        "tally": poll.tally,
        "percent": poll.percent,
    }


def render_poll(poll: Poll | None) -> Rendered | None:
    """A poll's public answer, good until it closes (its state changes then)."""
    if poll is None:
        return None
    at = now()
    closes = poll.closes_at if poll.closes_at is not None and at < poll.closes_at else None
    return Rendered.of(POLL_SCHEMA.dump(present(poll, at)), valid_until=closes)


def cached_poll(poll_id: str) -> Rendered | None:
    return cached_answer(("poll", poll_id), poll_id, lambda: render_poll(store.polls.get(poll_id)))


@blp.route("")
class PollList(MethodView):
    @documented(
        blp.arguments(PollIdsQuerySchema(), location="query"),
        blp.response(200, PollListSchema()),
        blp.alt_response(304, schema=None, description="Not modified: the client's ETag still holds."),
    )
    def get(self):
        """Tallies of up to 100 polls at once, for article list pages."""
        ids = load_query(POLL_IDS_QUERY_SCHEMA)["ids"]
        answers = {poll_id: store.read_cache.get(("poll", poll_id), poll_id) for poll_id in ids}
        at = now()
        stale = [poll_id for poll_id, answer in answers.items()
                 if answer is None or not answer.holds_at(at)]
        if stale:
            started = store.read_cache.clock()
            for poll in store.polls.get_many(stale):
                answers[poll.id] = render_poll(poll)
                store.read_cache.put(("poll", poll.id), poll.id, answers[poll.id], loaded_at=started)
        found = [answers[poll_id] for poll_id in ids if answers.get(poll_id) is not None]
        missing = [poll_id for poll_id in ids if answers.get(poll_id) is None]
        # Each poll was dumped by PollSchema when rendered; the list is PollListSchema's shape.
        body = b'{"polls":[' + b",".join(answer.body for answer in found) + b'],"missing":' \
            + json.dumps(missing).encode() + b"}"
        return public_json(Rendered(body, hashlib.sha1(body, usedforsecurity=False).hexdigest()))


@blp.route("/<resource_id:poll_id>")
class PollItem(MethodView):
    @documented(
        blp.response(200, PollSchema()),
        blp.alt_response(304, schema=None, description="Not modified: the client's ETag still holds."),
        blp.alt_response(404, schema=None, description="No such poll."),
    )
    def get(self, poll_id):
        """One poll with its tally; send If-None-Match to get 304 when nothing changed."""
        answer = cached_poll(poll_id)
        if answer is None:
            raise PollNotFound(poll_id)
        return public_json(answer)

    @require_admin
    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(PollUpdateSchema())
    @blp.response(200, PollSchema(), description="Updated; 201 when created.")
    def put(self, settings, poll_id):
        """Create or update a poll (admin). Its tally is kept."""
        closes_at = settings["closes_at"].timestamp() if settings["closes_at"] else None
        poll, created = store.polls.save(
            poll_id, question=settings["question"].strip(), closes_at=closes_at,
            allow_change=settings["allow_change"], now=now())
        return present(poll, now()), 201 if created else 200


def cast_vote(poll_id: str, choice: str, voter_token: str) -> VoteResult:
    """Cast a reader's vote with this request's client and the configured limits."""
    config = current_app.config
    rate = RateLimit.parse(config["VOTE_RATE_LIMIT"])
    return store.polls.cast_vote(
        poll_id,
        voter=voter_digest(config["SECRET_KEY"], poll_id, voter_token),
        choice=choice,
        ip=client_ip_digest(),
        now=now(),
        limits=VoteLimits(rate.count, rate.window, config["VOTERS_PER_IP_PER_DAY"]),
        auto_create_up_to=config["MAX_POLLS"] if config["AUTO_CREATE_POLLS"] else 0,
    )


@blp.route("/<resource_id:poll_id>/badge.svg")
class PollBadge(MethodView):
    @blp.doc(responses={"200": {"description": "The tally as an SVG image.",
                                "content": {"image/svg+xml": {"schema": {"type": "string"}}}}})
    @blp.alt_response(404, schema=None, description="No such poll.")
    def get(self, poll_id):
        """The tally as a small SVG badge, for newsletters, feeds and pages without scripts."""
        poll = store.polls.get(poll_id)
        if poll is None:
            raise PollNotFound(poll_id)
        svg = render_template("badge.svg", poll=present(poll, now()))
        response = Response(svg, mimetype="image/svg+xml", headers=public_cache_headers())
        response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
        response.set_etag(hashlib.sha256(svg.encode()).hexdigest()[:20])
        return response.make_conditional(request)


def tally_event(poll: Poll) -> bytes:
    """One Server-Sent Event carrying the poll's full tally; its id is the tally version."""
    data = json.dumps({"id": poll.id, "version": poll.version, "percent": poll.percent, "tally": poll.tally},
                      separators=(",", ":"), sort_keys=True)
    return f"id: {poll.version}\nevent: tally\ndata: {data}\n\n".encode()


def tally_stream(poll: Poll, inbox: Inbox, last_event_id: str | None, stop_listening):
    """The current tally (unless the client has it), then every change, with keep-alive comments.

    Yields bytes, so the response passes them straight through; ``stop_listening`` runs
    when the server closes the stream (the client left).
    """
    try:
        yield b"retry: 3000\n\n"
        if last_event_id != str(poll.version):
            yield tally_event(poll)
        sent = poll.version
        while True:
            update = inbox.wait()
            if update is None:
                yield b": keep-alive\n\n"
            elif update.version > sent:
                sent = update.version
                yield tally_event(replace(poll, yay=update.yay, nay=update.nay, version=update.version))
    finally:
        stop_listening()


@blp.route("/<resource_id:poll_id>/events")
class PollEvents(MethodView):
    @blp.doc(responses={"200": {"description": "A stream of `tally` events (text/event-stream).",
                                "content": {"text/event-stream": {"schema": {"type": "string"}}}}})
    @blp.alt_response(404, schema=None, description="No such poll.")
    def get(self, poll_id):
        """Live tally: Server-Sent Events after each change (at most about four a second).

        Each event's id is the tally version; reconnecting with Last-Event-ID resumes
        without repeating a tally the client already has. A comment line every 15 s keeps
        proxies from closing an idle stream.
        """
        feed = store.changes
        # Listen first, then read the tally: a change in between reaches the inbox, and
        # a cached tally older than that change is not served (store/cache.py).
        inbox = feed.listen(poll_id)
        try:
            poll = store.read_cache.load(("poll-state", poll_id), poll_id, lambda: store.polls.get(poll_id))
            if poll is None:
                raise PollNotFound(poll_id)
        except YaynayError:
            feed.forget(poll_id, inbox)
            raise
        stream = tally_stream(poll, inbox, request.headers.get("Last-Event-ID"),
                              lambda: feed.forget(poll_id, inbox))
        return Response(stream, mimetype="text/event-stream", direct_passthrough=True, headers={
            "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@blp.route("/<resource_id:poll_id>/votes")
class PollVotes(MethodView):
    @documented(
        blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": VoteSchema}}}),
        blp.response(200, VoteResultSchema()),
        blp.alt_response(422, description="A field is missing or invalid; errors name it."),
    )
    def post(self, poll_id):
        """Cast a vote, repeat it (no change) or change it (moves it between the tallies)."""
        ballot = load_json(VOTE_SCHEMA)
        result = cast_vote(poll_id, ballot["choice"], ballot["voter"])
        poll = result.poll
        body = {"poll_id": poll_id, "vote": result.vote, "changed": result.changed,
                "tally": poll.tally,
                "percent": poll.percent}
        return json_response(VOTE_RESULT_SCHEMA.dumps(body), headers=rate_limit_headers(result.rate))
