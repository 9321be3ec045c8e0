"""Throughput of yaynay's hot paths as ratios of a bare Flask endpoint, in one run.

Starts a Redis and two gunicorns with config/gunicorn.conf.py on 127.0.0.1 (yaynay and
bench/bare_app.py), loads each scenario with wrk for a bounded time, and prints
requests a second, latency, and the ratio to the bare endpoint measured in the same run.

    .venv/bin/python bench/run.py              # 10 s a scenario
    .venv/bin/python bench/run.py --seconds 5 --connections 64
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.store.embedded import RedisProcess, free_port  # noqa: E402

ADMIN = "bench-admin"


def start_gunicorn(app: str, env: dict, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "config" / "gunicorn.conf.py"), app],
        cwd=ROOT, env=dict(env, YAYNAY_BIND=f"127.0.0.1:{port}"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
        except urllib.error.HTTPError:
            return process
        except OSError:
            time.sleep(0.05)
            continue
        return process
    raise RuntimeError(f"{app} did not start")


def call(method: str, url: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wrk(url: str, seconds: int, connections: int, script: str | None = None) -> dict:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        command += ["-s", str(ROOT / "bench" / script)]
    output = subprocess.run(command + [url], capture_output=True, text=True, timeout=seconds + 30).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p99 = re.search(r"99%\s+([\d.]+\w+)", output).group(1)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"rate": rate, "p99": p99, "non_2xx": int(errors.group(1)) if errors else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/run.py needs wrk (apt-get install wrk)")

    with tempfile.TemporaryDirectory() as workdir, \
            RedisProcess(Path(workdir) / "redis", port=free_port(), persist=False) as redis_server:
        env = dict(os.environ, YAYNAY_REDIS_URL=redis_server.url, YAYNAY_SECRET_KEY="bench",
                   YAYNAY_ADMIN_TOKEN=ADMIN, YAYNAY_VAR_DIR=workdir, YAYNAY_DEMO="false",
                   YAYNAY_VOTE_RATE_LIMIT="1000000000/minute", YAYNAY_VOTERS_PER_IP_PER_DAY="1000000000")
        yaynay_port, bare_port = free_port(), free_port()
        servers = [start_gunicorn("service.wsgi:app", env, yaynay_port),
                   start_gunicorn("bench.bare_app:app", env, bare_port)]
        try:
            yaynay = f"http://127.0.0.1:{yaynay_port}"
            call("PUT", f"{yaynay}/api/v1/polls/bench", {"question": "Bench?"})
            scenarios = [
                ("bare Flask endpoint", f"http://127.0.0.1:{bare_port}/bare", None),
                ("read a poll (GET /polls/<id>)", f"{yaynay}/api/v1/polls/bench", None),
                ("vote (POST /polls/<id>/votes)", f"{yaynay}/api/v1/polls/bench/votes", "vote.lua"),
                ("many tallies (GET /polls?ids=, 20 ids)",
                 f"{yaynay}/api/v1/polls?ids=" + ",".join(["bench"] + [f"p{n}" for n in range(19)]), None),
                ("published comments (GET /threads/<id>/comments)", f"{yaynay}/api/v1/threads/bench/comments", None),
            ]
            results = [(name, wrk(url, args.seconds, args.connections, script)) for name, url, script in scenarios]
            tally = call("GET", f"{yaynay}/api/v1/polls/bench")["tally"]
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=30)

    baseline = results[0][1]["rate"]
    print(f"wrk -t2 -c{args.connections} -d{args.seconds}s, gunicorn {os.cpu_count()} gevent workers, "
          f"on {os.cpu_count()} cores shared with wrk and Redis")
    print(f"{'scenario':50} {'req/s':>9} {'p99':>9} {'non-2xx':>8} {'ratio':>6}")
    for name, result in results:
        print(f"{name:50} {result['rate']:9.0f} {result['p99']:>9} {result['non_2xx']:8d} "
              f"{result['rate'] / baseline:6.2f}")
    print(f"votes recorded: {tally['total']} (yay {tally['yay']}, nay {tally['nay']})")


if __name__ == "__main__":
    main()
