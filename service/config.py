"""Settings: defaults, overlaid by a TOML file (``YAYNAY_CONFIG``), then by ``YAYNAY_*`` variables.

Every number a publisher may want to change lives here. Environment variables are
named after the setting (``VOTE_RATE_LIMIT`` is ``YAYNAY_VOTE_RATE_LIMIT``) and are
converted to the type of the default: ``true``/``false`` for booleans, a comma
separated list for lists.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path

from service.ratelimit import RateLimit

ENV_PREFIX = "YAYNAY_"

DEFAULTS: dict[str, object] = {
    # "development" generates a secret key into VAR_DIR; "production" requires one.
    "ENV": "development",
    "VAR_DIR": "var",
    # Empty: the embedded Redis under VAR_DIR, which `yaynay serve` starts and stops.
    "REDIS_URL": "",
    # Set when REDIS_URL points at a Redis Cluster node.
    "REDIS_CLUSTER": False,
    # Seconds; keep them short so a dead Redis turns into a quick 503.
    "REDIS_SOCKET_TIMEOUT": 0.5,
    "REDIS_CONNECT_TIMEOUT": 0.5,
    # Redis connections per worker process, and seconds a request waits for a free one.
    "REDIS_MAX_CONNECTIONS": 50,
    "REDIS_POOL_TIMEOUT": 1.0,
    "KEY_PREFIX": "yaynay",
    "SECRET_KEY": "",
    "ADMIN_TOKEN": "",
    "ALLOWED_ORIGINS": [],
    # How many X-Forwarded-For entries, counted from the right, were added by proxies we trust.
    "PROXY_HOPS": 0,
    # Rate limits, "<count>/<second|minute|hour|day>", counted per client IP and poll.
    "VOTE_RATE_LIMIT": "30/minute",
    # Distinct new voters one client IP may bring to one poll in a day.
    "VOTERS_PER_IP_PER_DAY": 20,
    # Let the first vote on an unknown poll id create it, up to MAX_POLLS polls.
    "AUTO_CREATE_POLLS": False,
    "MAX_POLLS": 10000,
    # Comments. "pre": every comment waits for a moderator; "off": published at once.
    "MODERATION": "pre",
    # Per client IP, site-wide; every one of them applies.
    "COMMENT_RATE_LIMITS": ["5/minute", "50/day"],
    # Comments submitted site-wide in an hour above which moderators see a surge flag.
    "PENDING_SURGE_PER_HOUR": 100,
    "MAX_THREADS": 100000,
    "COMMENT_AUTHOR_MAX_LENGTH": 80,
    "COMMENT_BODY_MAX_LENGTH": 5000,
    # The hidden form field that people leave empty and bots fill in.
    "HONEYPOT_FIELD": "subject",
    # Seconds within which the same text from the same client is the same comment.
    "DUPLICATE_WINDOW": 600,
    # Seconds an Idempotency-Key is remembered.
    "IDEMPOTENCY_TTL": 86400,
    "COMMENTS_PAGE_SIZE": 50,
    # Request bodies larger than this many bytes are refused with 413.
    "MAX_CONTENT_LENGTH": 16 * 1024,
    # Seconds a public poll answer may be cached by browsers and CDNs.
    "POLL_CACHE_MAX_AGE": 5,
    # Seconds each worker may serve a tally or a thread page it read before, while its
    # change subscription is up (a change drops it at once); 0 reads Redis every time.
    "READ_CACHE_TTL": 5.0,
    # Serve the demo article at / and the moderators' page at /moderate (default: not in production).
    "DEMO": None,
    # Seconds between keep-alive comments on an idle live tally stream.
    "EVENTS_KEEPALIVE": 15.0,
    # Seconds a client should wait before retrying when Redis is unavailable.
    "UNAVAILABLE_RETRY_AFTER": 1,
}


class ConfigError(Exception):
    """A setting is missing or has a value that cannot be used."""


def _coerce(name: str, raw: str, default: object) -> object:
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"{ENV_PREFIX}{name} must be true or false, not {raw!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{ENV_PREFIX}{name} must be an integer, not {raw!r}") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{ENV_PREFIX}{name} must be a number, not {raw!r}") from None
    if isinstance(default, list):
        return [item.strip() for item in raw.split(",") if item.strip()]
    return raw


def load_settings(overrides: dict | None = None, environ: dict | None = None) -> dict[str, object]:
    """Return the settings: defaults, then the ``YAYNAY_CONFIG`` file, the environment, ``overrides``."""
    environ = os.environ if environ is None else environ
    settings = dict(DEFAULTS)
    config_file = environ.get(f"{ENV_PREFIX}CONFIG")
    if config_file:
        with open(config_file, "rb") as handle:
            from_file = tomllib.load(handle)
        settings.update({key.upper(): value for key, value in from_file.items()})
    for name, default in DEFAULTS.items():
        raw = environ.get(f"{ENV_PREFIX}{name}")
        if raw is not None:
            settings[name] = _coerce(name, raw, False if default is None else default)
    settings.update(overrides or {})
    if isinstance(settings["ALLOWED_ORIGINS"], str):
        settings["ALLOWED_ORIGINS"] = _coerce("ALLOWED_ORIGINS", settings["ALLOWED_ORIGINS"], [])
    settings["SECRET_KEY"] = settings["SECRET_KEY"] or _development_secret_key(settings)
    if settings["DEMO"] is None:
        settings["DEMO"] = settings["ENV"] != "production"
    settings["REDIS_EMBEDDED"] = not settings["REDIS_URL"]
    if settings["REDIS_EMBEDDED"]:
        if settings["ENV"] == "production":
            raise ConfigError(f"{ENV_PREFIX}REDIS_URL is required when {ENV_PREFIX}ENV=production")
        settings["REDIS_URL"] = f"unix://{embedded_redis_dir(settings) / 'redis.sock'}"
    if isinstance(settings["COMMENT_RATE_LIMITS"], str):
        settings["COMMENT_RATE_LIMITS"] = _coerce("COMMENT_RATE_LIMITS", settings["COMMENT_RATE_LIMITS"], [])
    try:
        for text in [str(settings["VOTE_RATE_LIMIT"]), *settings["COMMENT_RATE_LIMITS"]]:
            RateLimit.parse(text)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if settings["MODERATION"] not in ("pre", "off"):
        raise ConfigError(f"{ENV_PREFIX}MODERATION must be 'pre' or 'off', not {settings['MODERATION']!r}")
    return settings


def embedded_redis_dir(settings: dict) -> Path:
    """Where the embedded Redis keeps its socket, append-only file and log."""
    return (Path(str(settings["VAR_DIR"])) / "redis").resolve()


def _development_secret_key(settings: dict) -> str:
    """Read, or create once, the secret key under VAR_DIR; refuse in production."""
    if settings["ENV"] == "production":
        raise ConfigError(f"{ENV_PREFIX}SECRET_KEY is required when {ENV_PREFIX}ENV=production")
    path = Path(str(settings["VAR_DIR"])) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker created it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
