"""The processes a bench run starts on 127.0.0.1: Redis and gunicorns, each stopped by its owner."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil

from service.store.embedded import RedisProcess, free_port

ROOT = Path(__file__).resolve().parents[1]
GUNICORN_CONFIG = ROOT / "config" / "gunicorn.conf.py"
ADMIN_TOKEN = "bench-admin-token"
SECRET_KEY = "bench-secret-key"
UNLIMITED = "1000000000"

# Limits raised so the load is measured, not refused.
UNLIMITED_SETTINGS = {
    "YAYNAY_VOTE_RATE_LIMIT": f"{UNLIMITED}/minute",
    "YAYNAY_VOTERS_PER_IP_PER_DAY": UNLIMITED,
    "YAYNAY_COMMENT_RATE_LIMITS": f"{UNLIMITED}/minute",
    # No ceiling on polls (the default) and none on the new threads of the one bench client.
    "YAYNAY_MAX_POLLS": "0",
    "YAYNAY_NEW_THREADS_PER_IP_PER_DAY": "0",
    # The comment posts measure a reader's usual path, not the surge hold's.
    "YAYNAY_PENDING_SURGE_PER_HOUR": UNLIMITED,
    # The fan-out and idle-stream scenarios open thousands of streams from one address.
    "YAYNAY_STREAMS_PER_IP": UNLIMITED,
}


@dataclass(frozen=True)
class WorkerSettings:
    """How gunicorn runs: the class and number of workers (and threads, for gthread)."""

    worker_class: str = "gevent"
    workers: int = 2
    threads: int = 1

    def env(self) -> dict[str, str]:
        """The environment config/gunicorn.conf.py reads these from."""
        env = {"YAYNAY_WORKER_CLASS": self.worker_class, "YAYNAY_WORKERS": str(self.workers)}
        if self.threads > 1:
            # gunicorn.conf.py has no setting for threads; gunicorn reads extra options from here.
            env["GUNICORN_CMD_ARGS"] = f"--threads {self.threads}"
        return env


def raise_open_files_limit() -> int:
    """Lift this process's soft limit on open files to the hard one (servers started later inherit it)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def stop_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so `with` blocks stop every process as on Ctrl-C."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def start_redis(directory: Path) -> RedisProcess:
    """A redis-server of the bench's own on a free port, keeping nothing on disk."""
    return RedisProcess(directory, port=free_port(), persist=False).start()


def yaynay_env(redis_url: str, var_dir: Path, workers: WorkerSettings, **settings: str) -> dict[str, str]:
    """The environment of a gunicorn serving yaynay or the floors: this one without YAYNAY_*
    (a developer's shell settings must not change the run), then the bench's settings."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("YAYNAY_")}
    env.update(
        YAYNAY_REDIS_URL=redis_url,
        YAYNAY_SECRET_KEY=SECRET_KEY,
        YAYNAY_ADMIN_TOKEN=ADMIN_TOKEN,
        YAYNAY_VAR_DIR=str(var_dir),
        YAYNAY_DEMO="false",
        **UNLIMITED_SETTINGS,
        **workers.env(),
    )
    env.update(settings)
    return env


class Gunicorn:
    """``gunicorn --config <config> <app>`` on 127.0.0.1 (a free port unless given one).

    By default the app is run by this interpreter from the repository's root, with
    config/gunicorn.conf.py; ``python`` and ``cwd`` run another's gunicorn from its own directory
    (Isso's, in its venv). ``start`` returns at once; ``wait_ready`` until ``ready_path`` answers.
    ``stop`` is a quick shutdown (SIGINT): a graceful one would wait out open event streams.
    """

    def __init__(
        self,
        app: str,
        env: dict[str, str],
        log_path: Path,
        *,
        ready_path: str = "/readyz",
        python: Path | str = sys.executable,
        cwd: Path = ROOT,
        config: Path = GUNICORN_CONFIG,
        port: int | None = None,
    ):
        self.app = app
        self.port = port or free_port()
        self.env = dict(env, YAYNAY_BIND=f"127.0.0.1:{self.port}")
        self.log_path = log_path
        self.ready_path = ready_path
        self.python = python
        self.cwd = cwd
        self.config = config
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Gunicorn:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(self.python), "-m", "gunicorn", "--config", str(self.config), self.app],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        """Wait until the app answers ``ready_path`` with 200; else stop it and raise RuntimeError
        saying why, with the log's end."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:  # not listening yet, or an HTTP error (Redis not ready)
                pass
            exit_code = self.process.poll()
            if exit_code is not None or time.monotonic() > deadline:
                self.stop()
                why = (
                    f"exited with {exit_code}"
                    if exit_code is not None
                    else f"did not answer {self.ready_path} within {timeout:.0f} s"
                )
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"gunicorn {self.app} {why}; {self.log_path} ends:\n{tail}")
            time.sleep(0.1)

    def workers(self) -> list[psutil.Process]:
        """The worker processes (not the arbiter)."""
        return psutil.Process(self.process.pid).children()

    def settled_workers(self, count: int, timeout: float = 60) -> list[psutil.Process]:
        """The ``count`` workers, once each has loaded the app: ``wait_ready`` hears from one of
        them only, so wait until there are ``count`` and none's RSS grew by 1 MB in a second."""
        deadline = time.monotonic() + timeout
        before: dict[int, int] = {}
        while time.monotonic() < deadline:
            workers = self.workers()
            now = {worker.pid: worker.memory_info().rss for worker in workers}
            if len(workers) == count and all(abs(rss - before.get(pid, 0)) < 1 << 20 for pid, rss in now.items()):
                return workers
            before = now
            time.sleep(1.0)
        raise RuntimeError(f"gunicorn {self.app}: {count} workers not settled within {timeout:.0f} s")

    def stop(self) -> None:
        """Stop the master, or kill it and its workers if it has not exited within 15 s."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(psutil.NoSuchProcess):
                for worker in psutil.Process(process.pid).children():
                    worker.kill()
            process.kill()
            process.wait()

    def __enter__(self) -> Gunicorn:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
