"""The benchmark runs end to end: `python -m bench --quick` prints every row (no timing is checked)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROWS = [
    "floor: hello (Flask jsonify)",
    "floor: one Redis INCR",
    "vote",
    "tally read",
    "tally read, 304",
    "batch tallies (50 polls)",
    "thread read (20 comments)",
    "comment post (JSON)",
    "moderation queue (50)",
    "Isso",
    "live fan-out",
    "Redis bytes per voter (1,000)",
    "Redis bytes per voter (10,000)",
    "vote, one poll of 1,000 voters",
    "vote, one poll of 10,000 voters",
    "flat cost: voters on one poll",
    "flat cost: polls voted on",
    "idle streams RSS (100)",
    "cluster bus per vote",
    "changes a worker decodes per vote",
]


@pytest.mark.e2e
@pytest.mark.e2e
def test_the_quick_benchmark_prints_every_row(tmp_path):
    if not shutil.which("wrk"):
        if os.environ.get("CI"):
            pytest.fail("wrk is missing; ./dev test installs it with apt-get")
        pytest.skip("wrk is not installed (./dev test installs it when run as root)")
    markdown = tmp_path / "bench.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--markdown", str(markdown)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    table_rows = [line.split("  ")[0] for line in result.stdout.splitlines()]
    assert [row for row in ROWS if row not in table_rows] == []
    assert all(f"| {row} |" in markdown.read_text() for row in ROWS)


def test_the_vote_profile_prints_every_part_with_what_it_costs():
    profile = subprocess.run(
        [sys.executable, "-m", "bench.profile_vote", "--votes", "20", "--rounds", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert profile.returncode == 0, profile.stderr
    lines = profile.stdout.splitlines()
    assert [line.split("  ")[0] for line in lines] == [
        "vote, as served",
        "- access log line",
        "- every before/after-request hook",
        "- body validation (VoteSchema.load)",
        "- answer's schema (json.dumps instead)",
        "- vote script ('return 1', same KEYS/ARGV)",
        "- vote script (an INCR instead)",
        "- Redis round trip (reply canned)",
        "- core.cast_vote (result canned)",
        "floor: one Redis INCR",
    ]
    assert all("(the part:" in line for line in lines[1:-1])
