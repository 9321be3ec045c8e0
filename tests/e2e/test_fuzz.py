"""Property-based: whatever a client sends, allowed by the API document or not, never a 500.

Schemathesis generates requests for every operation of /openapi.json against the real server.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN


@pytest.fixture
def server_env():
    return {
        "YAYNAY_VOTE_RATE_LIMIT": "1000000/minute",
        "YAYNAY_COMMENT_RATE_LIMITS": "1000000/minute",
        "YAYNAY_VOTERS_PER_IP_PER_DAY": "1000000",
    }


def test_no_generated_request_gets_a_server_error(live_server, tmp_path):
    schemathesis = Path(sys.executable).parent / "st"
    result = subprocess.run(
        [
            str(schemathesis),
            "run",
            f"{live_server}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--header",
            f"Authorization: Bearer {ADMIN_TOKEN}",
            "--max-examples",
            "30",
            "--seed",
            "2026",
            "--exclude-path-regex",
            "/events$",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert " passed" in result.stdout
