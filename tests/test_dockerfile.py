"""Checks of the container files: Dockerfile, compose.yaml and config/redis.conf.

No Docker engine is needed: the Dockerfile is linted with hadolint and read as text,
compose.yaml is read as YAML and redis.conf as Redis directives.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
REDIS_CONF = ROOT / "config" / "redis.conf"

REDIS_CONF_IN_CONTAINER = "/usr/local/etc/redis/redis.conf"


# ---- helpers ---------------------------------------------------------------------


def _hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not found: install the test extra (pip install -e '.[test]')")
    return found


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """Return ``(INSTRUCTION, arguments)`` pairs, joining ``\\`` continuation lines.

    Comment lines (including parser directives) are dropped, also inside a
    continuation, as Docker does.
    """
    instructions: list[tuple[str, str]] = []
    pending: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        logical = " ".join(part for part in pending if part)
        pending = []
        keyword, _, arguments = logical.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends inside a line continuation"
    return instructions


def dockerfile_stages(text: str) -> list[list[tuple[str, str]]]:
    """Split the instructions into build stages, each starting with its FROM."""
    stages: list[list[tuple[str, str]]] = []
    for keyword, arguments in dockerfile_instructions(text):
        if keyword == "FROM":
            stages.append([])
        assert stages, f"{keyword} before the first FROM"
        stages[-1].append((keyword, arguments))
    return stages


def compose_services() -> dict:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict) and isinstance(document.get("services"), dict), (
        "compose.yaml has no services mapping"
    )
    return document["services"]


def _volume_mounts(service: dict) -> list[tuple[str, str]]:
    """``(source, target)`` for short (``src:dst[:mode]``) and long volume syntax."""
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            parts = volume.split(":")
            source, target = (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])
        else:
            source, target = str(volume.get("source", "")), str(volume.get("target", ""))
        mounts.append((source, target))
    return mounts


def _environment(service: dict) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def redis_directives(text: str) -> dict[str, list[str]]:
    """Directive -> arguments of its last occurrence (later lines override earlier ones)."""
    directives: dict[str, list[str]] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        words = shlex.split(stripped)
        directives[words[0].lower()] = words[1:]
    return directives


# ---- Dockerfile ------------------------------------------------------------------


def test_hadolint_passes():
    result = subprocess.run(
        [_hadolint(), "--no-color", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"hadolint failed:\n{result.stdout}{result.stderr}"


def test_dockerfile_is_multi_stage():
    stages = dockerfile_stages(DOCKERFILE.read_text())
    assert len(stages) > 1, "the Dockerfile should have a builder and a runtime stage"
    for stage in stages:
        image = stage[0][1].split()[0]
        assert image.startswith("python:3.11-slim"), f"unexpected base image {image!r}"


def test_builder_takes_dependencies_from_the_runtime_lock_file():
    """The image gets exactly the versions of requirements/runtime.txt, not whatever the
    ranges in pyproject.toml resolve to on the day it is built."""
    builder = dockerfile_stages(DOCKERFILE.read_text())[0]
    copies = [arguments for keyword, arguments in builder if keyword == "COPY"]
    assert any("requirements/runtime.txt" in arguments.split() for arguments in copies), copies
    pip_commands = [shlex.split(arguments) for keyword, arguments in builder if keyword == "RUN" and "pip" in arguments]
    from_lock = [
        words
        for words in pip_commands
        if any(
            flag in {"-r", "--requirement"} and value == "requirements/runtime.txt"
            for flag, value in zip(words, words[1:], strict=False)
        )
        or "--requirement=requirements/runtime.txt" in words
    ]
    assert from_lock, f"no pip command of the builder reads requirements/runtime.txt: {pip_commands}"
    for words in pip_commands:
        if words[-1] == ".":
            assert "--no-deps" in words, f"the project's own wheel resolves its dependencies again: {words}"


def test_final_stage_runs_as_non_root_user():
    final = dockerfile_stages(DOCKERFILE.read_text())[-1]
    users = [arguments for keyword, arguments in final if keyword == "USER"]
    assert users, "the final stage has no USER instruction: it would run as root"
    user = users[-1].split(":")[0].strip()
    assert user not in {"root", "0", ""}, f"the final stage runs as {users[-1]!r}"


def test_final_stage_has_healthcheck_on_healthz():
    final = dockerfile_stages(DOCKERFILE.read_text())[-1]
    healthchecks = [arguments for keyword, arguments in final if keyword == "HEALTHCHECK"]
    assert healthchecks, "the final stage has no HEALTHCHECK"
    assert "/healthz" in healthchecks[-1], f"HEALTHCHECK does not probe /healthz: {healthchecks[-1]}"


def test_cmd_starts_gunicorn_with_config_and_wsgi_app():
    final = dockerfile_stages(DOCKERFILE.read_text())[-1]
    commands = [arguments for keyword, arguments in final if keyword == "CMD"]
    assert commands, "the final stage has no CMD"
    try:
        command = json.loads(commands[-1])
    except json.JSONDecodeError:
        pytest.fail(f"CMD is not in JSON (exec) form: {commands[-1]}")
    assert command[0] == "gunicorn", command
    assert "config/gunicorn.conf.py" in command, command
    assert command[command.index("config/gunicorn.conf.py") - 1] in {"--config", "-c"}, command
    assert command[-1] == "service.wsgi:app", command


# ---- compose.yaml ----------------------------------------------------------------


def test_compose_redis_mounts_config_and_data_volume():
    document = yaml.safe_load(COMPOSE.read_text())
    redis = compose_services()["redis"]
    mounts = _volume_mounts(redis)

    config_mounts = [target for source, target in mounts if source.removeprefix("./") == "config/redis.conf"]
    assert config_mounts == [REDIS_CONF_IN_CONTAINER], f"config/redis.conf is not mounted: {mounts}"
    command = redis.get("command", "")
    command = " ".join(command) if isinstance(command, list) else str(command)
    assert REDIS_CONF_IN_CONTAINER in command, f"redis does not load the mounted config: {command!r}"

    data_sources = [source for source, target in mounts if target == "/data"]
    assert data_sources, f"no volume is mounted at /data: {mounts}"
    named = data_sources[0]
    assert named in (document.get("volumes") or {}), f"volume {named!r} is not declared"


def test_compose_yaynay_depends_on_healthy_redis_and_uses_it():
    yaynay = compose_services()["yaynay"]
    depends_on = yaynay.get("depends_on", {})
    assert "redis" in depends_on, f"yaynay does not depend on redis: {depends_on}"
    if isinstance(depends_on, dict):
        assert depends_on["redis"].get("condition") == "service_healthy", depends_on
    environment = _environment(yaynay)
    assert environment.get("YAYNAY_REDIS_URL", "").startswith("redis://redis:"), environment


# ---- config/redis.conf -----------------------------------------------------------


def test_redis_conf_persists_with_aof_every_second():
    directives = redis_directives(REDIS_CONF.read_text())
    assert directives.get("appendonly") == ["yes"], directives.get("appendonly")
    assert directives.get("appendfsync") == ["everysec"], directives.get("appendfsync")
    assert directives.get("dir") == ["/data"], directives.get("dir")


def test_redis_conf_never_evicts_and_keeps_listpack_hashes():
    directives = redis_directives(REDIS_CONF.read_text())
    assert directives.get("maxmemory-policy") == ["noeviction"], directives.get("maxmemory-policy")
    assert int(directives["hash-max-listpack-entries"][0]) >= 128
    assert int(directives["hash-max-listpack-value"][0]) >= 64


def test_compose_passes_settings_the_service_accepts_with_their_defaults():
    """Every variable compose.yaml passes, at its default, is one the settings loader takes."""
    import re

    from service.settings import load_settings

    environment = compose_services()["yaynay"]["environment"]
    values = {}
    for name, value in environment.items():
        default = re.fullmatch(r"\$\{\w+:[-?](.*)\}", str(value))
        values[name] = "" if default is None and "${" in str(value) else (default.group(1) if default else str(value))
    values["YAYNAY_SECRET_KEY"] = "a-secret"
    settings = load_settings(environ=values)
    assert settings["COMMENT_RATE_LIMITS"] == ["5/minute", "50/day"]
    assert settings["VOTE_RATE_LIMIT"] == "30/minute"
    assert "YAYNAY_METRICS_TOKEN" in environment and "YAYNAY_PROXY_HOPS" in environment
