"""Where a vote's CPU time goes: the vote served in one process with one part at a time taken out.

    python -m bench.profile_vote [--votes 1500] [--rounds 8]

The app is called as a WSGI application (no gunicorn, no gevent) against a Redis of its own,
with the bench's unlimited settings; each variant below replaces one part of the vote with
nothing (or with the cheapest stand-in), and the difference with the full vote is what that
part costs. Variants run in turns, several rounds, and each keeps its fastest round of CPU
time (``time.process_time``: this process only, Redis not included), so that the shared
machine's drift moves every variant alike. The floors' ``/incr`` runs beside them.

A part costs more inside a request than alone in a loop (a 27-argument EVALSHA: 11 us
more than an INCR in a loop, about 70 us more inside the vote), so the parts are measured
by taking them out of the whole, not by timing them alone. What this process shows is
an upper bound for gunicorn: turning the access log off saved 60-80 us here and nothing
measurable under gunicorn (757 us a vote both ways, ``bench/costs.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import logging.config
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

from bench.servers import ADMIN_TOKEN, SECRET_KEY, UNLIMITED_SETTINGS
from service.logs import logging_config
from service.store.embedded import RedisProcess, free_port

POLL = "profile-vote"


def vote_environ(voter: int) -> dict[str, Any]:
    """The WSGI environ of one vote by a new voter, as wrk's vote.lua sends it."""
    body = json.dumps({"choice": "yay" if voter % 2 else "nay", "voter": f"{voter:024x}"}).encode()
    return {
        **_base_environ("POST", f"/api/v1/polls/{POLL}/votes", body),
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
    }


def _base_environ(method: str, path: str, body: bytes = b"") -> dict[str, Any]:
    return {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def _ignore_start_response(status: str, headers: list[Any], exc_info: Any = None) -> None:
    return None


def variants(app: Any) -> dict[str, Callable[[], contextlib.AbstractContextManager[Any]]]:
    """Each variant: a context manager that takes one part out of the vote."""
    from service.core import Client
    from service.core import polls as core_polls
    from service.logs import ACCESS_LOGGER
    from service.schemas import VoteResultSchema, VoteSchema

    core = app.extensions["yaynay"]
    store_polls = core.store.polls
    redis = core.store.redis
    with app.test_request_context("/"):
        result = core_polls.cast_vote(core, POLL, "yay", "f" * 24, Client("127.0.0.1", ""))
    replies: list[Any] = []
    script = store_polls.scripts.cast_vote

    def recording(keys: list[Any], args: list[Any]) -> Any:
        replies.append(script(keys=keys, args=args))
        return replies[-1]

    with mock.patch.object(store_polls.scripts, "cast_vote", recording):
        b"".join(app(vote_environ(0), _ignore_start_response))
    reply = replies[-1]
    trivial = redis.register_script("return 1")

    def access_log_off() -> Iterator[None]:
        logger = logging.getLogger(ACCESS_LOGGER)
        logger.disabled = True
        try:
            yield
        finally:
            logger.disabled = False

    return {
        "vote, as served": contextlib.nullcontext,
        "- access log line": contextlib.contextmanager(access_log_off),
        "- every before/after-request hook": lambda: mock.patch.multiple(
            app, before_request_funcs={None: []}, after_request_funcs={None: []}
        ),
        "- body validation (VoteSchema.load)": lambda: mock.patch.object(VoteSchema, "load", lambda self, data: data),
        "- answer's schema (json.dumps instead)": lambda: mock.patch.object(
            VoteResultSchema, "dumps", lambda self, data: json.dumps(data)
        ),
        "- vote script ('return 1', same KEYS/ARGV)": lambda: mock.patch.object(
            store_polls.scripts, "cast_vote", lambda keys, args: (trivial(keys=keys, args=args), list(reply))[1]
        ),
        "- vote script (an INCR instead)": lambda: mock.patch.object(
            store_polls.scripts, "cast_vote", lambda keys, args: (redis.incr("bench:profile"), list(reply))[1]
        ),
        "- Redis round trip (reply canned)": lambda: mock.patch.object(
            store_polls.scripts, "cast_vote", lambda keys, args: list(reply)
        ),
        "- core.cast_vote (result canned)": lambda: mock.patch.object(core_polls, "cast_vote", lambda *args: result),
    }


def measure(votes: int, rounds: int) -> dict[str, float]:
    """CPU microseconds a request of each variant (its fastest round), and of the INCR floor."""
    with tempfile.TemporaryDirectory(prefix="yaynay-profile-") as scratch:
        redis_server = RedisProcess(os.path.join(scratch, "redis"), port=free_port(), persist=False).start()
        settings = {
            **UNLIMITED_SETTINGS,
            "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(dir=scratch),
            "YAYNAY_REDIS_URL": redis_server.url,
            "YAYNAY_SECRET_KEY": SECRET_KEY,
            "YAYNAY_ADMIN_TOKEN": ADMIN_TOKEN,
            "YAYNAY_VAR_DIR": scratch,
            "YAYNAY_DEMO": "false",
        }
        try:
            os.environ.update(settings)
            from bench.floors import app as floors
            from service import create_app

            app = create_app()
            created = app.test_client().put(
                f"/api/v1/polls/{POLL}", json={"question": "?"}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
            )
            assert created.status_code in (200, 201), created.data
            voter = iter(range(1, 10**9))
            runs: dict[str, tuple[Callable[[], Any], Callable[[], dict[str, Any]], Any]] = {
                name: (app_variant, lambda: vote_environ(next(voter)), app)
                for name, app_variant in variants(app).items()
            }
            runs["floor: one Redis INCR"] = (contextlib.nullcontext, lambda: _base_environ("GET", "/incr"), floors)
            best = dict.fromkeys(runs, float("inf"))
            for _ in range(rounds):
                for name, (variant, environ, wsgi) in runs.items():
                    environs = [environ() for _ in range(votes)]
                    with variant():
                        started = time.process_time()
                        for one in environs:
                            b"".join(wsgi(one, _ignore_start_response))
                        spent = time.process_time() - started
                    best[name] = min(best[name], spent / votes * 1e6)
            return best
        finally:
            for name in settings:
                os.environ.pop(name, None)
            redis_server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--votes", type=int, default=1500, help="requests a variant a round")
    parser.add_argument("--rounds", type=int, default=8)
    options = parser.parse_args()
    # The bench's servers log as development does (text lines), to a file: here, to nowhere.
    logging.config.dictConfig(logging_config(json_lines=False, level="info"))
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115
    best = measure(options.votes, options.rounds)
    whole = best["vote, as served"]
    for name, spent in best.items():
        saved = "" if name.startswith(("vote", "floor")) else f"  (the part: {whole - spent:5.1f} us)"
        print(f"{name:45s} {spent:7.1f} us{saved}")


if __name__ == "__main__":
    main()
