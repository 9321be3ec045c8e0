"""The baseline: a bare Flask endpoint, served by the same gunicorn settings as yaynay."""

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/bare")
def bare():
    return jsonify(status="ok")
