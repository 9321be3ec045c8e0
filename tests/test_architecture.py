"""The architecture and the types are checked in the suite: import-linter's contracts and mypy.

The contracts are in pyproject.toml ([tool.importlinter]): the web layer (API, pages,
CLI) calls the core, the core calls the store, only the store imports redis, and
nothing below the web layer imports Flask.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(tool: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / tool), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_dependencies_point_one_way():
    result = run("lint-imports", "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_mypy_finds_no_error():
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
