"""Isso, a Python comment server, as a peer for yaynay's comment scenarios in the same bench run.

Isso runs as fairly as it can beside yaynay:

- the same gunicorn config (config/gunicorn.conf.py) and worker settings (``worker_env``, by default
  2 gevent workers; YAYNAY_* variables of the calling shell are ignored, as for yaynay's servers);
- the same gunicorn and gevent versions as the running interpreter's, installed with ``isso`` into a
  venv of its own (its pins may differ from yaynay's Flask and Werkzeug), cached under
  var/bench/isso-venv so later runs reuse it;
- its WSGI app is ``isso.run:application``, which reads the config file named by ISSO_SETTINGS;
- the guard (rate limits, direct-reply and reply-to-self rules) is off and moderation is off,
  so every POST /new is accepted and public at once (201); notifications are off, so a post logs
  nothing;
- its SQLite database lives in the bench's temporary directory.

Isso's CSRF rule accepts a write whose Content-Type is application/json; it does not check
Origin or Referer. A new thread needs a title in the first post, or Isso fetches the page from the
configured host to read one; the seeding gives one.

What Isso's thread read does differently: it opens a new SQLite connection for each query (two for a
thread without replies), and it stores comments as Markdown and renders every comment on every read
(mistune, then bleach's sanitiser and linkifier, each parsing the HTML again); yaynay does neither.
A post also derives the commenter's avatar hash with PBKDF2 each time.
"""

from __future__ import annotations

import configparser
import contextlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from bench.servers import ROOT, Gunicorn

DEFAULT_VENV = ROOT / "var" / "bench" / "isso-venv"
POST_SCRIPT = Path(__file__).with_name("isso_post.lua")

THREAD_URI = "/mini-backpacks"
# Posts go to their own thread (isso_post.lua), so the read scenario always reads 20 comments
# whatever order the scenarios run in.
POST_URI = "/bench-posts"
SEEDED_COMMENTS = 20

PIP_TIMEOUT = 600
START_TIMEOUT = 60

DEFAULT_WORKER_ENV = {"YAYNAY_WORKER_CLASS": "gevent", "YAYNAY_WORKERS": "2"}

_PROBE = """
import importlib.metadata as metadata, json
import isso, gevent, gunicorn.workers.ggevent
print(json.dumps({name: metadata.version(name) for name in ("isso", "gunicorn", "gevent")}))
"""


class IssoUnavailable(Exception):
    """Isso could not be installed, started or seeded; the message says why."""


class IssoPeer:
    """Isso under gunicorn on 127.0.0.1, with a thread of 20 comments, for as long as the ``with`` block.

    After entering: ``base_url`` (wrk's URL for ``post_script``), ``thread_url`` (GET: the thread
    with its 20 comments), ``post_script`` (a wrk Lua script posting a new comment with a unique body
    each request) and ``version`` (Isso's). ``worker_env`` is the environment config/gunicorn.conf.py
    reads the worker settings from (YAYNAY_WORKER_CLASS, YAYNAY_WORKERS, ...). Entering raises
    IssoUnavailable when Isso cannot be installed, does not start, or does not serve the seeded thread.
    """

    def __init__(
        self,
        workdir: Path,
        gunicorn_config: Path,
        *,
        venv_dir: Path | None = None,
        port: int | None = None,
        worker_env: Mapping[str, str] | None = None,
    ) -> None:
        self.directory = Path(workdir) / "isso"
        self.gunicorn_config = Path(gunicorn_config).resolve()
        self.venv_dir = Path(venv_dir) if venv_dir else DEFAULT_VENV
        self.port = port
        self.worker_env = dict(worker_env or DEFAULT_WORKER_ENV)
        self.base_url = ""
        self.thread_url = ""
        self.post_script = POST_SCRIPT
        self.version = ""
        self._server: Gunicorn | None = None
        self.pid = 0  # Isso's gunicorn master, once started

    def __enter__(self) -> IssoPeer:
        self.version = self._ensure_venv()
        settings = self.directory / "isso.cfg"
        self._server = self._gunicorn(settings)
        self.port = self._server.port
        self.base_url = self._server.url
        self.thread_url = f"{self.base_url}/?uri={urllib.parse.quote(THREAD_URI, safe='')}"
        # A directory left by an aborted run would hold a database whose thread has more than 20 comments.
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)
        try:
            self._write_config(settings)
            self._start()
            self._seed()
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _python(self) -> Path:
        return self.venv_dir / "bin" / "python"

    def _ensure_venv(self) -> str:
        """Isso's version, after making sure the venv has isso and the wanted gunicorn and gevent."""
        wanted = _host_versions()
        installed = self._probe()
        if installed and all(installed.get(name) == version for name, version in wanted.items()):
            return installed["isso"]
        started = time.monotonic()
        if not self._python().exists():
            self._run([sys.executable, "-m", "venv", str(self.venv_dir)], "creating the Isso venv", timeout=120)
        pins = {name: f"=={version}" for name, version in wanted.items()}
        self._run(
            [
                str(self._python()),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--quiet",
                "isso",
                f"gunicorn[gevent]{pins.get('gunicorn', '')}",
                f"gevent{pins.get('gevent', '')}",
            ],
            "pip install isso gunicorn[gevent] gevent",
            timeout=PIP_TIMEOUT,
        )
        installed = self._probe()
        if not installed:
            raise IssoUnavailable(f"Isso installed into {self.venv_dir} but does not import")
        print(
            f"isso peer: installed isso {installed['isso']} into {self.venv_dir} in {time.monotonic() - started:.0f} s",
            file=sys.stderr,
        )
        return installed["isso"]

    def _probe(self) -> dict[str, str] | None:
        if not self._python().exists():
            return None
        try:
            result = subprocess.run([str(self._python()), "-c", _PROBE], capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            return None
        return json.loads(result.stdout) if result.returncode == 0 else None

    @staticmethod
    def _run(command: list[str], what: str, *, timeout: int) -> None:
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as timed_out:
            raise IssoUnavailable(f"{what}: did not finish in {timeout} s") from timed_out
        if result.returncode != 0:
            tail = _error_tail(result.stdout + result.stderr)
            raise IssoUnavailable(f"{what} failed (exit {result.returncode}):\n{tail}")

    def _write_config(self, path: Path) -> None:
        config = configparser.ConfigParser()
        config.read_dict(
            {
                "general": {
                    "dbpath": str(self.directory / "comments.db"),
                    # The origin Isso's CORS answers allow; a wrk request sends no Origin and gets this one.
                    "host": "http://127.0.0.1",
                    # Isso warns once at start about the empty backend; the default, stdout, logs every post.
                    "notify": "",
                    "gravatar": "false",
                },
                "moderation": {"enabled": "false"},
                "guard": {"enabled": "false"},
                "admin": {"enabled": "false"},
                "server": {"public-endpoint": self.base_url},
            }
        )
        with path.open("w") as file:
            config.write(file)

    def _gunicorn(self, settings: Path) -> Gunicorn:
        """Isso's gunicorn, not started: the venv's interpreter, the environment of this process without
        YAYNAY_* (Gunicorn adds YAYNAY_BIND) nor PYTHONPATH/PYTHONHOME, then the worker settings."""
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("YAYNAY_") and name not in ("PYTHONPATH", "PYTHONHOME")
        }
        env.update(self.worker_env, ISSO_SETTINGS=str(settings))
        # cwd is Isso's directory so that the repo's own packages cannot shadow Isso's imports.
        return Gunicorn(
            "isso.run:application",
            env,
            self.directory / "gunicorn.log",
            ready_path="/info",
            python=self._python(),
            cwd=self.directory,
            config=self.gunicorn_config,
            port=self.port,
        )

    def _start(self) -> None:
        try:
            self._server.start().wait_ready(START_TIMEOUT)
            self.pid = self._server.process.pid
        except RuntimeError as error:  # the message ends with the log's tail
            raise IssoUnavailable(f"Isso's {error}") from error

    def _seed(self) -> None:
        for number in range(1, SEEDED_COMMENTS + 1):
            self._post(
                THREAD_URI,
                {
                    "title": "Mini backpacks",
                    "author": f"Reader {number}",
                    "text": f"Comment {number}: the *small* one holds a 13-inch laptop and a bottle.",
                },
            )
        self._post(POST_URI, {"title": "Bench posts", "author": "Bench", "text": "The first post of the bench."})
        with urllib.request.urlopen(self.thread_url, timeout=10) as response:
            replies = json.loads(response.read())["replies"]
        if len(replies) != SEEDED_COMMENTS:
            raise IssoUnavailable(f"Isso's thread {THREAD_URI} shows {len(replies)} comments, not {SEEDED_COMMENTS}")

    def _post(self, uri: str, comment: dict) -> None:
        request = urllib.request.Request(
            f"{self.base_url}/new?uri={urllib.parse.quote(uri, safe='')}",
            method="POST",
            data=json.dumps(comment).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            raise IssoUnavailable(f"Isso refused a comment on {uri}: {error.code} {error.read()[:200]!r}") from error
        if status != 201:
            raise IssoUnavailable(f"Isso answered {status} to a comment on {uri}, not 201 (published)")

    def _stop(self) -> None:
        if self._server is not None:
            self._server.stop()


def _host_versions() -> dict[str, str]:
    """The running interpreter's gunicorn and gevent versions, which Isso's venv is to match."""
    versions = {}
    for name in ("gunicorn", "gevent"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return versions


def _error_tail(output: str, lines: int = 12) -> str:
    # pip's output here is mostly warnings about configured indexes; its errors say what failed.
    all_lines = output.strip().splitlines()
    errors = [line for line in all_lines if line.startswith("ERROR")]
    return "\n".join(errors[-lines:] or all_lines[-lines:])
