"""The yaynay command, run as a reader of the README would run it."""

import json
import os
import subprocess
import sys
from pathlib import Path


def yaynay(*args, env):
    executable = Path(sys.executable).parent / "yaynay"
    return subprocess.run([str(executable), *args], env=env, capture_output=True, text=True, timeout=60)


def test_poll_create_then_show_on_the_test_redis(redis_env, redis_client):
    env = dict(os.environ, **redis_env, YAYNAY_SECRET_KEY="k")
    created = yaynay("poll", "create", "mini-backpacks", "Are you YAY or NAY on mini backpacks?", env=env)
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("created ")
    assert json.loads(created.stdout.removeprefix("created "))["question"] == "Are you YAY or NAY on mini backpacks?"

    shown = yaynay("poll", "show", "mini-backpacks", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "match the tally" in shown.stdout


def test_poll_create_refuses_a_bad_id(redis_env):
    env = dict(os.environ, **redis_env, YAYNAY_SECRET_KEY="k")
    result = yaynay("poll", "create", "Not An Id", "Q?", env=env)
    assert result.returncode == 2
    assert "POLL_ID" in result.stderr


def test_without_a_redis_url_the_cli_starts_and_stops_an_embedded_redis(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("YAYNAY_")}
    env["YAYNAY_VAR_DIR"] = str(tmp_path / "var")
    assert yaynay("poll", "create", "kept", "Does it persist?", env=env).returncode == 0
    shown = yaynay("poll", "show", "kept", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "Does it persist?" in shown.stdout
    assert (tmp_path / "var" / "redis" / "appendonlydir").is_dir()
    assert (tmp_path / "var" / "secret_key").is_file()
