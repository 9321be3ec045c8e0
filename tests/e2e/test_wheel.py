"""The wheel holds everything `yaynay serve` needs: built, installed into a fresh venv, serving."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from service.store.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]


def run(*args, **options):
    result = subprocess.run(args, capture_output=True, text=True, timeout=240, **options)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.mark.e2e
def test_the_wheel_installed_in_a_fresh_venv_serves_with_the_embedded_redis(tmp_path):
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path / "dist"), str(ROOT))
    [wheel] = (tmp_path / "dist").glob("yaynay-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", str(venv))  # this pip installs into it: faster
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet"]
    # The locked runtime versions, from pip's configured index and cache; then the wheel alone.
    run(*pip, "-r", str(ROOT / "requirements" / "runtime.txt"))
    run(*pip, "--no-deps", str(wheel))

    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("YAYNAY_", "PROMETHEUS_"))}
    env["YAYNAY_WORKERS"] = "1"
    # Away from the checkout: nothing but the installed package may be found.
    served = subprocess.Popen(
        [str(venv / "bin" / "yaynay"), "serve", "--bind", f"127.0.0.1:{port}"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
                    assert answer.status == 200
                    break
            except OSError:
                assert served.poll() is None and time.monotonic() < deadline, served.communicate()[0]
                time.sleep(0.2)
        vote = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/polls/mini-backpacks/votes",
            data=b'{"choice": "yay", "voter": "wheel-reader-token"}',
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(vote, timeout=5) as answer:
            assert answer.status == 200  # on the demo poll: the Lua scripts, shared Lua included, came along
    finally:
        served.send_signal(signal.SIGTERM)
        output = served.communicate(timeout=15)[0]
    assert served.returncode == 0, output
    assert "Traceback" not in output, output
