"""wrk, the load generator: making sure it is installed, running it, reading its report."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

THREADS = 2
SCRIPTS = Path(__file__).resolve().parent

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class WrkRun:
    """What one wrk run reports."""

    requests: int
    rate: float
    p99_ms: float
    non_2xx_3xx: int
    socket_errors: int


def ensure_wrk() -> str:
    """The path of wrk; installs it with apt-get when it is missing and we run as root, else exits."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench: installing wrk (apt-get install -y wrk)", file=sys.stderr)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "install", "-y", "-qq", "wrk"]
        if subprocess.run(install, env=env, stdout=subprocess.DEVNULL).returncode != 0:
            # A fresh container has no package lists yet.
            subprocess.run(["apt-get", "update", "-qq"], env=env, stdout=subprocess.DEVNULL)
            subprocess.run(install, env=env, stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit("bench: wrk is missing; install it (apt-get install wrk) or run as root to let the bench install it")


def wrk_version() -> str:
    """wrk's version line, e.g. 'wrk 4.1.0'."""
    output = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    match = re.search(r"wrk \S+", output)
    return match.group(0) if match else "wrk"


def run_wrk(
    url: str,
    *,
    seconds: int,
    connections: int,
    script: str | None = None,
    script_args: tuple[str, ...] = (),
    headers: tuple[str, ...] = (),
) -> WrkRun:
    """Load ``url`` for ``seconds`` with ``wrk -t2 -c<connections> --latency``.

    ``script`` is a Lua file in bench/ (or a path) that builds the requests; ``script_args``
    reach its ``init(args)``. Raises RuntimeError when wrk fails or prints no report.
    """
    command = ["wrk", f"-t{THREADS}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for header in headers:
        command += ["-H", header]
    if script:
        command += ["-s", str(SCRIPTS / script)]
    command.append(url)
    if script_args:
        command += ["--", *script_args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if result.returncode != 0 or "Requests/sec" not in result.stdout:
        raise RuntimeError(f"wrk failed on {url} (exit {result.returncode}):\n{result.stdout}{result.stderr}")
    return parse_report(result.stdout)


def parse_report(text: str) -> WrkRun:
    """Read wrk's ``--latency`` report."""
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.MULTILINE)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return WrkRun(
        requests=requests,
        rate=rate,
        p99_ms=float(p99.group(1)) * _UNIT_MS[p99.group(2)] if p99 else float("nan"),
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
    )
