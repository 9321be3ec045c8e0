"""Property-based: whatever a client sends, the server answers as its OpenAPI document says.

Schemathesis generates requests for every operation of /openapi.json against the real
server, with every check on (tests/e2e/schemathesis.toml): no server error, documented
status codes, content types and headers, answers that match their schemas, data the
document allows is accepted and data it forbids is refused, auth that is not ignored.
It runs once as an admin and once as a moderator, who meets 403 on the admin operations.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from service.store.keys import Keys
from service.store.tokens import TokenStore
from tests.conftest import ADMIN_TOKEN

CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture
def server_env():
    return {
        "YAYNAY_VOTE_RATE_LIMIT": "1000000/minute",
        "YAYNAY_COMMENT_RATE_LIMITS": "1000000/minute",
        "YAYNAY_VOTERS_PER_IP_PER_DAY": "1000000",
    }


def moderator_token(redis_client) -> str:
    return TokenStore(redis_client, Keys()).create("fuzzing-moderator", "moderator", now=0)


@pytest.mark.parametrize("role", ["admin", "moderator"])
def test_every_answer_is_the_one_the_document_promises(live_server, redis_client, tmp_path, role):
    token = ADMIN_TOKEN if role == "admin" else moderator_token(redis_client)
    schemathesis = Path(sys.executable).parent / "st"
    result = subprocess.run(
        [
            str(schemathesis),
            "--config-file",
            str(CONFIG),
            "run",
            f"{live_server}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            "20",
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
    assert result.returncode == 0, result.stdout[-6000:]
    assert " passed" in result.stdout
