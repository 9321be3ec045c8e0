"""The floors yaynay's hot paths are measured against, served by the same gunicorn settings.

``/hello`` answers a small JSON object: what Flask costs before an endpoint does
anything. ``/incr`` adds one Redis round trip (INCR) through the client and connection
pool yaynay itself opens: the cheapest endpoint that touches Redis.
"""

from flask import Flask, jsonify

from service.settings import load_settings
from service.store import Store

app = Flask(__name__)
# yaynay's own client, from the same YAYNAY_* settings; one per worker process, since
# gunicorn imports the app in each worker (after gevent has patched sockets).
redis = Store.from_settings(load_settings()).redis


@app.get("/hello")
def hello():
    return jsonify(hello="world")


@app.get("/incr")
def incr():
    return jsonify(count=redis.incr("bench:floors:incr"))
