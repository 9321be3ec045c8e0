"""gunicorn settings for yaynay, shipped in the package so that an installed wheel serves.

``yaynay serve`` passes this file to gunicorn; ``config/gunicorn.conf.py`` runs it for
``gunicorn --config config/gunicorn.conf.py service.wsgi:app``.

Its variables (YAYNAY_BIND, YAYNAY_WORKERS, YAYNAY_WORKER_CLASS, YAYNAY_WORKER_CONNECTIONS,
YAYNAY_ACCESS_LOG, YAYNAY_LOG_FORMAT, YAYNAY_LOG_LEVEL) are settings like any other: in the
table of service/settings, also read from the YAYNAY_CONFIG file, and checked with the rest
before a worker starts, so a bad setting stops gunicorn with one line instead of a traceback
per worker.

gunicorn runs this file by path, not as ``service.gunicorn_conf``: importing the package
would import the app (Flask and all) into the master, and each worker imports it after
gevent has patched sockets.
"""

import importlib.util
import math
import os
import shutil
import signal
import sys
import tempfile
import types
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _plain_modules() -> tuple[types.ModuleType, types.ModuleType | None]:
    """service.settings and service.logs, imported without service/__init__.py.

    The benchmark also runs Isso's gunicorn with this file, under Isso's interpreter, where
    yaynay is not installed: then the package is the directory holding this file.
    """
    found = importlib.util.find_spec("service")
    package = types.ModuleType("service")
    package.__path__ = list(found.submodule_search_locations or []) if found else [str(_PACKAGE_DIR)]
    sys.modules["service"] = package
    try:
        import service.settings as settings

        logs: types.ModuleType | None
        try:
            import service.logs as found_logs

            logs = found_logs
        except ImportError:  # Isso's interpreter (the benchmark): gunicorn's own logging
            logs = None
    finally:  # the workers import the real package
        for name in [name for name in sys.modules if name == "service" or name.startswith("service.")]:
            del sys.modules[name]
    return settings, logs


def usable_cpus(cgroup_cpu_max: str = "/sys/fs/cgroup/cpu.max") -> int:
    """The CPUs this process may use: its affinity, capped by a cgroup v2 quota (a container's
    ``--cpus``), which ``os.cpu_count()`` ignores: it counts the host's cores."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    try:
        quota, period = Path(cgroup_cpu_max).read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def _fresh_metrics_dir(var_dir: str) -> str:
    """An empty directory for the workers' metric files: samples of a previous run would
    otherwise be added to this one's."""
    base = Path(var_dir)
    try:
        base.mkdir(parents=True, exist_ok=True)
        directory = base / "metrics"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir()
        return str(directory)
    except OSError:  # a read-only VAR_DIR (a container without a volume)
        return tempfile.mkdtemp(prefix="yaynay-metrics-")


_settings_module, _logs = _plain_modules()
try:
    _settings = _settings_module.load_settings()
except _settings_module.ConfigError as _error:
    sys.exit(f"yaynay: {_error}")

# prometheus_client reads this when a worker first imports it, after the fork.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _fresh_metrics_dir(str(_settings["VAR_DIR"]))

bind = _settings["BIND"]

# gevent: every request waits on Redis, and live tally streams are long-lived idle
# connections; cooperative workers hold thousands of both where a thread holds one.
# Measured with `python -m bench --only rss,fanout`: one gevent worker holds 5,000 idle
# streams at about 20 KiB each and a vote reaches 1,000 of them within 0.5 s; a gthread
# worker needs a thread per stream (100 threads holding 300 streams had none left for
# the vote). It patches sockets before the app is imported: no preloading.
worker_class = _settings["WORKER_CLASS"]
# None (the default): one per CPU this process may use (affinity and container quota).
workers = usable_cpus() if _settings["WORKERS"] is None else _settings["WORKERS"]
worker_connections = _settings["WORKER_CONNECTIONS"]

timeout = 30
# Live streams end when a worker is told to stop (post_worker_init below), and requests
# take milliseconds: two seconds is plenty, and keeps a stop under three.
graceful_timeout = 2
# Under gevent also the most seconds a request's headers may take; the body's deadline is
# YAYNAY_REQUEST_TIMEOUT (service/api/connections.py).
keepalive = 5

# The app writes the access log (it knows the route and the request id); gunicorn's is off.
accesslog = None
errorlog = "-"
loglevel = _settings["LOG_LEVEL"]
if _logs is not None:
    logconfig_dict = _logs.logging_config(json_lines=_settings["LOG_FORMAT"] == "json", level=_settings["LOG_LEVEL"])


def _logger_without_access_lines() -> type:
    """gunicorn's logger, minus its access line. With ``logconfig_dict`` set, gunicorn builds
    the line's atoms for every request (a dict of some 30 entries) before its muted logger
    drops it; yaynay's own access line is the app's (service/api/observe.py)."""
    from gunicorn.glogging import Logger

    class LoggerWithoutAccessLines(Logger):
        def access(self, resp, req, environ, request_time) -> None:
            return None

    return LoggerWithoutAccessLines


logger_class = _logger_without_access_lines()
proc_name = "yaynay"

# gunicorn's control socket defaults to one path per user, which two servers on one
# machine (a test run beside `yaynay serve`) would fight over; yaynay does not use it.
control_socket_disable = True


def _end_streams(worker) -> None:
    closer = getattr(sys.modules.get("service.wsgi"), "end_streams", None)
    if closer is not None:
        closer()


def post_worker_init(worker) -> None:
    """End the worker's live streams as soon as it is told to stop (SIGTERM): gunicorn
    waits for open requests, and a stream never ends by itself. And answer the requests
    gunicorn refuses itself (a request line over its limit is 414) in yaynay's one JSON
    error shape, as the API document says, instead of gunicorn's HTML page."""
    from gunicorn import util

    try:
        from service.error_shape import write_server_error
    except ModuleNotFoundError as missing:  # Isso's interpreter (the benchmark runs Isso under this file)
        if missing.name != "service":
            raise
    else:
        util.write_error = write_server_error
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame) -> None:
        # A connection kept alive waits up to `keepalive` seconds for another request, and
        # the stream's connection decided to stay alive when it began: from now on, none does.
        worker.cfg.set("keepalive", 0)
        _end_streams(worker)
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_term)


def worker_int(worker) -> None:
    """Ctrl-C (SIGINT) or SIGQUIT: end the streams too."""
    worker.cfg.set("keepalive", 0)
    _end_streams(worker)


def child_exit(server, worker) -> None:
    """A dead worker's live gauges (open streams) stop counting."""
    try:
        from prometheus_client import multiprocess
    except ImportError:  # Isso's interpreter (the benchmark)
        return
    multiprocess.mark_process_dead(worker.pid)
