"""The code passes ruff's lint rules (pyproject.toml) and is formatted as ``ruff format`` writes it."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["service", "tests", "bench", "config"]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_finds_nothing(command):
    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run([str(ruff), *command, *SOURCES], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
