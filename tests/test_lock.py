"""The lock files pin every dependency that pyproject.toml names.

pyproject.toml keeps ranges; requirements/runtime.txt and requirements/test.txt pin what
``./dev lock`` resolved them to. A dependency added to pyproject.toml but not locked
would be missing from ``./dev serve``, ``./dev test`` and the image, which install the
lock files and then the project with ``--no-deps``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
TEST_LOCK = ROOT / "requirements" / "test.txt"

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#\\]+)")


def normalise(name: str) -> str:
    """Compare names as pip does, near enough: ``Flask_Smorest`` is ``flask-smorest``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def project_requirements(extra: str | None = None) -> list[Requirement]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    names = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return [Requirement(text) for text in names]


def pins(lock: Path) -> dict[str, str]:
    """``name -> version`` of every ``name==version`` line; anything else is refused."""
    pinned: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _PIN.match(stripped)
        assert match, f"{lock.name}: not a name==version pin: {line!r}"
        pinned[normalise(match.group(1))] = match.group(2)
    return pinned


def _unpinned_or_out_of_range(requirements: list[Requirement], lock: Path) -> list[str]:
    pinned = pins(lock)
    problems = []
    for requirement in requirements:
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = normalise(requirement.name)
        if name not in pinned:
            problems.append(f"{requirement} is not pinned")
        elif not SpecifierSet(str(requirement.specifier)).contains(pinned[name], prereleases=True):
            problems.append(f"{requirement} is pinned to {pinned[name]}, outside its range")
    return problems


@pytest.mark.parametrize(
    ("extras", "lock"),
    [((), RUNTIME_LOCK), (("test",), TEST_LOCK)],
    ids=["runtime", "test"],
)
def test_every_dependency_of_pyproject_is_pinned_in_its_lock_file(extras, lock):
    requirements = project_requirements() + [
        requirement for extra in extras for requirement in project_requirements(extra)
    ]
    problems = _unpinned_or_out_of_range(requirements, lock)
    assert not problems, f"{lock.relative_to(ROOT)} is out of date (./dev lock):\n" + "\n".join(problems)


def test_runtime_lock_is_the_test_lock_minus_test_tools():
    """Serving runs the versions the tests ran: every runtime pin is the same in test.txt."""
    runtime, test = pins(RUNTIME_LOCK), pins(TEST_LOCK)
    differing = {name: (version, test.get(name)) for name, version in runtime.items() if test.get(name) != version}
    assert not differing, f"runtime.txt and test.txt pin differently (runtime, test): {differing}"
