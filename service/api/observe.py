"""What every request leaves behind: a request id, an access log line, counts, and ``GET /metrics``.

The request id is the ``X-Request-ID`` a trusted proxy sent (PROXY_HOPS > 0), else one
made here; it is echoed on the answer and named in every line about the request, so a
reader's report, the proxy's log and ours meet. Lines never carry an IP address.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import time

from flask import Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from service import metrics
from service.api.context import bearer_token, core
from service.core import moderation
from service.core.tokens import ADMIN, require_role
from service.error_shape import error_body
from service.errors import Forbidden, StoreUnavailable, Unauthorized
from service.logs import ACCESS_LOGGER, AccessLog

log = logging.getLogger("yaynay")

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is logged as sent: only plain characters, and not a novel.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# (endpoint, method) of the hot requests, whose latency is a histogram of its own.
HOT_OPERATIONS = {
    ("polls.PollVotes", "POST"): "vote",
    ("polls.PollItem", "GET"): "tally",
    ("comments.ThreadComments", "POST"): "comment",
}


def request_id(trusted_proxy: bool) -> str:
    """The proxy's ``X-Request-ID`` when a trusted proxy sent a usable one, else a new id."""
    if trusted_proxy:
        sent = request.headers.get(REQUEST_ID_HEADER, "")
        if _REQUEST_ID.fullmatch(sent):
            return sent
    return secrets.token_hex(8)


def current_request_id() -> str:
    """This request's id ("-" outside a request that went through ``init_app``'s hooks)."""
    return str(g.get("request_id", "-"))


def init_app(app: Flask) -> None:
    """Give every request an id, a log line and its counts; serve ``/metrics``."""
    trusted_proxy = bool(app.config["PROXY_HOPS"])
    # LOG_LEVEL warning or above silences the access lines, as it does any info line.
    access_log = (
        AccessLog(json_lines=app.config["LOG_FORMAT"] == "json", flush_seconds=app.config["ACCESS_LOG_FLUSH_INTERVAL"])
        if app.config["ACCESS_LOG"] and logging.getLogger(ACCESS_LOGGER).isEnabledFor(logging.INFO)
        else None
    )
    metrics_token = str(app.config.get("METRICS_TOKEN") or "")
    warned_forwarded = False

    @app.before_request
    def start() -> None:
        nonlocal warned_forwarded
        g.started = time.perf_counter()
        g.request_id = request_id(trusted_proxy)
        if not trusted_proxy and not warned_forwarded and "X-Forwarded-For" in request.headers:
            warned_forwarded = True  # once a worker: the point is to be seen, not to flood
            log.warning(
                "requests arrive with X-Forwarded-For but YAYNAY_PROXY_HOPS=0: every reader shares the "
                "proxy's address, so one reader's rate limits hold back the whole site; set "
                "YAYNAY_PROXY_HOPS to the number of proxies in front of yaynay",
                extra={"request_id": g.request_id},
            )

    @app.after_request
    def finish(response: Response) -> Response:
        started = g.get("started")
        if started is None:  # a request that failed before start() (a routing error in a hook)
            return response
        duration = time.perf_counter() - started
        rule = request.url_rule
        route = rule.rule if rule is not None else "(unmatched)"
        status = response.status_code
        response.headers[REQUEST_ID_HEADER] = g.request_id
        # Any token is a method to werkzeug: an unknown one must not mint a label value.
        metrics.count_request(route, request.method if request.method in KNOWN_METHODS else "other", status)
        operation = HOT_OPERATIONS.get((request.endpoint or "", request.method))
        if operation is not None:
            metrics.HOT_LATENCY[operation].observe(duration)
        if status == 503:
            metrics.UNAVAILABLE.inc()
            log.warning(
                "answered 503: %s",
                g.get("refusal", "unavailable"),
                extra={"request_id": g.request_id, "route": route},
            )
        if access_log is not None:
            access_log.write(g.request_id, request.method, route, status, duration)
        return response

    def scrape() -> Response:
        if not _may_scrape(metrics_token):
            response = Response(
                _json(error_body(401, "Send an admin token or YAYNAY_METRICS_TOKEN as a bearer token.")),
                401,
                {"WWW-Authenticate": 'Bearer realm="yaynay"'},
                mimetype="application/json",
            )
            return response
        registry = metrics.scrape_registry()
        body = generate_latest(registry) + generate_latest(_PendingCollector())
        return Response(body, 200, {"Cache-Control": "no-store"}, mimetype=CONTENT_TYPE_LATEST)

    app.add_url_rule("/metrics", "metrics", scrape, methods=["GET"])


def _may_scrape(metrics_token: str) -> bool:
    token = bearer_token()
    if token is None:
        return False
    if metrics_token and hmac.compare_digest(token.encode(), metrics_token.encode()):
        return True
    try:
        require_role(core(), token, ADMIN)
    except (Unauthorized, Forbidden):
        return False
    return True


def _json(body: object) -> str:
    return current_app.json.dumps(body)


class _PendingCollector(Collector):
    """The moderation queue, read from Redis at scrape time (two cheap reads), not counted."""

    def collect(self):  # type: ignore[no-untyped-def,unused-ignore]
        try:
            count, oldest_age = moderation.pending_summary(core())
        except StoreUnavailable:
            return
        yield GaugeMetricFamily("yaynay_pending_comments", "Comments waiting for a moderator.", value=count)
        yield GaugeMetricFamily(
            "yaynay_oldest_pending_comment_age_seconds",
            "Seconds the oldest waiting comment has waited (0 when none waits).",
            value=oldest_age or 0.0,
        )
