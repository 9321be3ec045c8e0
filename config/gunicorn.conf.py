"""gunicorn settings for yaynay: ``gunicorn --config config/gunicorn.conf.py service.wsgi:app``.

Environment: YAYNAY_BIND (default 127.0.0.1:8000), YAYNAY_WORKERS (default: one per core),
YAYNAY_WORKER_CONNECTIONS, YAYNAY_ACCESS_LOG ("-" for stdout).
"""

import multiprocessing
import os

bind = os.environ.get("YAYNAY_BIND", "127.0.0.1:8000")

# gevent: every request waits on Redis, and live tally streams are long-lived idle
# connections; cooperative workers hold thousands of both where a thread holds one.
# Measured with `python -m bench --only rss,fanout`: one gevent worker holds 5,000 idle
# streams at about 20 KiB each and a vote reaches 1,000 of them within 0.5 s; a gthread
# worker needs a thread per stream (100 threads holding 300 streams had none left for
# the vote). It patches sockets before the app is imported: no preloading.
worker_class = os.environ.get("YAYNAY_WORKER_CLASS", "gevent")
workers = int(os.environ.get("YAYNAY_WORKERS", multiprocessing.cpu_count()))
worker_connections = int(os.environ.get("YAYNAY_WORKER_CONNECTIONS", "4000"))

timeout = 30
graceful_timeout = 10
keepalive = 5

accesslog = os.environ.get("YAYNAY_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("YAYNAY_LOG_LEVEL", "info")
proc_name = "yaynay"

# gunicorn's control socket defaults to one path per user, which two servers on one
# machine (a test run beside `yaynay serve`) would fight over; yaynay does not use it.
control_socket_disable = True
