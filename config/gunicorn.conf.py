"""gunicorn settings for yaynay: ``gunicorn --config config/gunicorn.conf.py service.wsgi:app``.

Its variables (YAYNAY_BIND, YAYNAY_WORKERS, YAYNAY_WORKER_CLASS, YAYNAY_WORKER_CONNECTIONS,
YAYNAY_ACCESS_LOG, YAYNAY_LOG_LEVEL) are settings like any other: in the table of
service/settings, also read from the YAYNAY_CONFIG file, and checked with the rest before a
worker starts, so a bad setting stops gunicorn with one line instead of a traceback per worker.
"""

import importlib.util
import multiprocessing
import sys
import types
from pathlib import Path


def _load_settings() -> dict:
    """yaynay's settings, read by service/settings alone: not through service/__init__.py, which
    imports the app (Flask and all) into the master; each worker imports it, after gevent has
    patched sockets. The benchmark also runs Isso's gunicorn with this file, under Isso's
    interpreter, where yaynay is not installed: then service/ is found beside this file."""
    found = importlib.util.find_spec("service")
    package = types.ModuleType("service")
    package.__path__ = (
        list(found.submodule_search_locations or [])
        if found
        else [str(Path(__file__).resolve().parents[1] / "service")]
    )
    sys.modules["service"] = package
    try:
        from service.settings import ConfigError, load_settings
    finally:  # the workers import the real package
        for name in [name for name in sys.modules if name == "service" or name.startswith("service.")]:
            del sys.modules[name]
    try:
        return load_settings()
    except ConfigError as error:
        sys.exit(f"yaynay: {error}")


_settings = _load_settings()

bind = _settings["BIND"]

# gevent: every request waits on Redis, and live tally streams are long-lived idle
# connections; cooperative workers hold thousands of both where a thread holds one.
# Measured with `python -m bench --only rss,fanout`: one gevent worker holds 5,000 idle
# streams at about 20 KiB each and a vote reaches 1,000 of them within 0.5 s; a gthread
# worker needs a thread per stream (100 threads holding 300 streams had none left for
# the vote). It patches sockets before the app is imported: no preloading.
worker_class = _settings["WORKER_CLASS"]
# None (the default): one per CPU of the machine.
workers = multiprocessing.cpu_count() if _settings["WORKERS"] is None else _settings["WORKERS"]
worker_connections = _settings["WORKER_CONNECTIONS"]

timeout = 30
graceful_timeout = 10
# Under gevent also the most seconds a request's headers may take; the body's deadline is
# YAYNAY_REQUEST_TIMEOUT (service/api/connections.py).
keepalive = 5

accesslog = _settings["ACCESS_LOG"] or None
errorlog = "-"
loglevel = _settings["LOG_LEVEL"]
proc_name = "yaynay"


def post_worker_init(worker):
    """Answer the requests gunicorn refuses itself (a request line over its limit is 414) in
    yaynay's one JSON error shape, as documented, instead of gunicorn's HTML page."""
    from gunicorn import util

    from service.api.errors import write_server_error

    util.write_error = write_server_error


# gunicorn's control socket defaults to one path per user, which two servers on one
# machine (a test run beside `yaynay serve`) would fight over; yaynay does not use it.
control_socket_disable = True
