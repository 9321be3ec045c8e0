"""Polls: read tallies (one or many), create or update a poll, cast a vote, follow a tally live."""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from flask import Response, render_template, request
from flask.views import MethodView
from flask_smorest import Blueprint
from werkzeug.wrappers import Response as BaseResponse

from service.api.caching import Rendered, cached_answer, public_cache_headers
from service.api.connections import gevent_is_serving
from service.api.context import client, core, now
from service.api.errors import rate_limit_headers
from service.api.io import answers, needs, takes
from service.core import KEEP_ALIVE, ChangeFeed, Inbox, TallyUpdate, polls
from service.core.polls import Poll
from service.core.tokens import ADMIN
from service.errors import PollNotFound
from service.schemas import (
    PollIdsQuerySchema,
    PollListSchema,
    PollSchema,
    PollUpdateSchema,
    VoteResultSchema,
    VoteSchema,
    present_poll,
)

POLL_SCHEMA = PollSchema()

blp = Blueprint("polls", __name__, url_prefix="/api/v1/polls", description="YAY/NAY polls and votes.")


def render_poll(poll: Poll | None) -> Rendered | None:
    """A poll's public answer, good until it closes (its state changes then)."""
    if poll is None:
        return None
    at = now()
    closes = poll.closes_at if poll.closes_at is not None and at < poll.closes_at else None
    return Rendered.of(POLL_SCHEMA.dump(present_poll(poll, at)), valid_until=closes)


def cached_poll(poll_id: str) -> Rendered | None:
    """The poll's public answer, from this worker's memory while nothing changed."""
    return cached_answer(("poll", poll_id), poll_id, lambda: render_poll(polls.find_poll(core(), poll_id)))


@blp.route("")
class PollList(MethodView):
    @answers(blp, 200, PollListSchema(), etag=True)
    @takes(blp, PollIdsQuerySchema(), location="query")
    def get(self, query: dict[str, Any]) -> Rendered:
        """Tallies of up to 100 polls at once, for article list pages."""
        ids = query["ids"]
        cache = core().read_cache
        answers_by_id = {poll_id: cache.get(("poll", poll_id), poll_id) for poll_id in ids}
        at = now()
        stale = [poll_id for poll_id, found in answers_by_id.items() if found is None or not found.holds_at(at)]
        if stale:
            started = cache.clock()
            for poll in polls.find_polls(core(), stale):
                answers_by_id[poll.id] = render_poll(poll)
                cache.put(("poll", poll.id), poll.id, answers_by_id[poll.id], loaded_at=started)
        found = [answer for answer in (answers_by_id.get(poll_id) for poll_id in ids) if answer is not None]
        missing = [poll_id for poll_id in ids if answers_by_id.get(poll_id) is None]
        # Each poll was dumped by PollSchema when rendered; the list is PollListSchema's shape.
        body = (
            b'{"polls":['
            + b",".join(poll_answer.body for poll_answer in found)
            + b'],"missing":'
            + json.dumps(missing).encode()
            + b"}"
        )
        return Rendered.of_json(body)


@blp.route("/<resource_id:poll_id>")
class PollItem(MethodView):
    @answers(blp, 200, PollSchema(), etag=True, alternatives={404: "No such poll."})
    def get(self, poll_id: str) -> Rendered:
        """One poll with its tally; send If-None-Match to get 304 when nothing changed."""
        found = cached_poll(poll_id)
        if found is None:
            raise PollNotFound(poll_id)
        return found

    @needs(blp, ADMIN)
    @answers(
        blp,
        200,
        PollSchema(),
        description="Updated; 201 when created.",
        alternatives={201: "Created: the poll is new."},
    )
    @takes(blp, PollUpdateSchema())
    def put(self, update: dict[str, Any], poll_id: str) -> tuple[dict[str, Any], int]:
        """Create or update a poll (admin). Its tally is kept."""
        poll, created = polls.save_poll(
            core(),
            poll_id,
            question=update["question"],
            closes_at=update["closes_at"],
            allow_change=update["allow_change"],
        )
        return present_poll(poll, now()), 201 if created else 200

    @needs(blp, ADMIN)
    @answers(blp, 204, description="Deleted.", alternatives={404: "No such poll."})
    def delete(self, poll_id: str) -> tuple[None, int]:
        """Delete a poll with its tally and every voter record (admin); its comments stay."""
        polls.delete_poll(core(), poll_id)
        return None, 204


@blp.route("/<resource_id:poll_id>/close")
class PollClose(MethodView):
    @needs(blp, ADMIN)
    @answers(blp, 200, PollSchema(), alternatives={404: "No such poll."})
    def post(self, poll_id: str) -> dict[str, Any]:
        """Stop the poll taking votes now (admin); its tally stays."""
        return present_poll(polls.close_poll(core(), poll_id), now())


@blp.route("/<resource_id:poll_id>/reopen")
class PollReopen(MethodView):
    @needs(blp, ADMIN)
    @answers(blp, 200, PollSchema(), alternatives={404: "No such poll."})
    def post(self, poll_id: str) -> dict[str, Any]:
        """Let the poll take votes again, with no closing time (admin)."""
        return present_poll(polls.reopen_poll(core(), poll_id), now())


@blp.route("/<resource_id:poll_id>/badge.svg")
class PollBadge(MethodView):
    @answers(
        blp,
        200,
        content_type="image/svg+xml",
        description="The tally as an SVG image.",
        etag=True,
        alternatives={404: "No such poll."},
    )
    def get(self, poll_id: str) -> BaseResponse:
        """The tally as a small SVG badge, for newsletters, feeds and pages without scripts."""
        poll = polls.get_poll(core(), poll_id)
        svg = render_template("badge.svg", poll=present_poll(poll, now()))
        response = Response(svg, mimetype="image/svg+xml", headers=public_cache_headers())
        response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
        response.set_etag(Rendered.of_json(svg.encode()).etag[:20])
        return response.make_conditional(request)


def tally_event(poll: Poll) -> bytes:
    """One Server-Sent Event carrying the poll's full tally; its id is the tally version."""
    data = json.dumps(
        {"id": poll.id, "version": poll.version, "percent": poll.percent, "tally": poll.tally},
        separators=(",", ":"),
        sort_keys=True,
    )
    return f"id: {poll.version}\nevent: tally\ndata: {data}\n\n".encode()


def opening_events(poll: Poll, last_event_id: str | None) -> bytes:
    """What a stream starts with: the reconnection delay, and the tally unless the client has it."""
    return b"retry: 3000\n\n" + (tally_event(poll) if last_event_id != str(poll.version) else b"")


def tally_stream(
    poll: Poll, inbox: Inbox, last_event_id: str | None, stop_listening: Callable[[], None]
) -> Iterator[bytes]:
    """The current tally (unless the client has it), then every change, with keep-alive comments.

    Yields bytes, so the response passes them straight through; ``stop_listening`` runs
    when the server closes the stream (the client left).
    """
    try:
        yield opening_events(poll, last_event_id)
        sent = poll.version
        while True:
            update = inbox.wait()
            if inbox.gone:
                return  # the client hung up (store/events.py): free its place now
            if inbox.closed:  # the server is stopping; the client reconnects to another worker
                return
            if update is None:
                yield KEEP_ALIVE
            elif update.version > sent:
                sent = update.version
                yield tally_event(poll_at(poll, update))
    finally:
        stop_listening()


def poll_at(poll: Poll, update: TallyUpdate) -> Poll:
    """``poll`` with the tally of ``update``."""
    return replace(poll, yay=update.yay, nay=update.nay, version=update.version)


class TallyStream(Response):
    """The live stream's answer. Under gunicorn's gevent worker, on plain HTTP/1.x, it writes its
    head and opening events itself and hands the connection to the change feed
    (``ChangeFeed.adopt``), so no greenlet waits on an idle stream; elsewhere (other workers,
    TLS terminated by gunicorn, HTTP/2, the test client) it streams ``tally_stream``."""

    def __init__(
        self, feed: ChangeFeed, poll: Poll, inbox: Inbox, last_event_id: str | None, release: Callable[[], None]
    ):
        """``release`` frees the stream's place in the budget; it runs when the stream ends."""

        def stop_listening() -> None:
            feed.forget(poll.id, inbox)
            release()

        super().__init__(
            tally_stream(poll, inbox, last_event_id, stop_listening),
            mimetype="text/event-stream",
            direct_passthrough=True,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self.feed, self.poll, self.inbox, self.last_event_id = feed, poll, inbox, last_event_id
        self.release, self.stop_listening = release, stop_listening

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        connection = environ.get("gunicorn.socket")
        if (
            connection is None
            or not gevent_is_serving()
            or isinstance(connection, ssl.SSLSocket)  # its bytes must go through TLS
            or not environ.get("SERVER_PROTOCOL", "").startswith("HTTP/1.")  # HTTP/2 frames its own
        ):
            return super().__call__(environ, start_response)
        from gunicorn.workers.base_async import ALREADY_HANDLED

        headers = self.get_wsgi_headers(environ)
        headers["Connection"] = "close"
        head = f"HTTP/1.1 {self.status}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        opening = head.encode("latin-1") + b"\r\n" + opening_events(self.poll, self.last_event_id)
        fileno = os.dup(connection.fileno())  # gunicorn closes its own once the view returns
        # ...at once, not after waiting its keep-alive out for another request on it.
        gunicorn_request = getattr(getattr(start_response, "__self__", None), "req", None)
        if gunicorn_request is not None:
            gunicorn_request.must_close = True
        try:
            written = os.write(fileno, opening)  # a new connection's buffer takes it at once
        except OSError:
            written = -1
        if written != len(opening):
            os.close(fileno)
            self.stop_listening()
            return ALREADY_HANDLED
        poll = self.poll
        self.feed.adopt(
            poll.id,
            self.inbox,
            fileno,
            sent=poll.version,
            render=lambda update: tally_event(poll_at(poll, update)),
            on_end=self.release,
        )
        return ALREADY_HANDLED


@blp.route("/<resource_id:poll_id>/events")
class PollEvents(MethodView):
    @answers(
        blp,
        200,
        content_type="text/event-stream",
        description="A stream of `tally` events (text/event-stream).",
        alternatives={
            404: "No such poll.",
            429: "Over the connection budget (STREAMS_PER_IP, STREAMS_PER_WORKER): poll the tally instead, "
            "see Retry-After.",
        },
    )
    def get(self, poll_id: str) -> Response:
        """Live tally: Server-Sent Events after each change (at most about four a second).

        Each event's id is the tally version; reconnecting with Last-Event-ID resumes
        without repeating a tally the client already has. A comment line every 15 s keeps
        proxies from closing an idle stream. One client address may hold STREAMS_PER_IP
        streams on each worker process, and a worker STREAMS_PER_WORKER; one more is
        refused with 429 and Retry-After.
        """
        ip = client().ip
        budget = core().streams
        budget.acquire(ip)
        feed = core().changes
        # Listen first, then read the tally: a change in between reaches the inbox, and
        # a cached tally older than that change is not served (store/cache.py).
        inbox = feed.listen(poll_id, fileno=stream_socket_fileno())
        try:
            poll = core().read_cache.load(("poll-state", poll_id), poll_id, lambda: polls.find_poll(core(), poll_id))
            if poll is None:
                raise PollNotFound(poll_id)
        except BaseException:
            feed.forget(poll_id, inbox)
            budget.release(ip)
            raise
        return TallyStream(feed, poll, inbox, request.headers.get("Last-Event-ID"), lambda: budget.release(ip))


def stream_socket_fileno() -> int:
    """The client connection's file descriptor under gunicorn, so a client that hangs up is
    noticed (store/events.py); -1 elsewhere (the test client)."""
    connection = request.environ.get("gunicorn.socket")
    try:
        return int(connection.fileno()) if connection is not None else -1
    except (OSError, ValueError):
        return -1


@blp.route("/<resource_id:poll_id>/votes")
class PollVotes(MethodView):
    @answers(blp, 200, VoteResultSchema(), alternatives={422: "A field is missing or invalid; errors name it."})
    @takes(blp, VoteSchema())
    def post(self, ballot: dict[str, str], poll_id: str) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Cast a vote, repeat it (no change) or change it (moves it between the tallies)."""
        result = polls.cast_vote(core(), poll_id, ballot["choice"], ballot["voter"], client())
        poll = result.poll
        body = {
            "poll_id": poll_id,
            "vote": result.vote,
            "changed": result.changed,
            "tally": poll.tally,
            "percent": poll.percent,
        }
        return body, 200, rate_limit_headers(result.rate) if result.rate else {}
