"""Settings: one table, loaded from defaults, a TOML file (``YAYNAY_CONFIG``), then ``YAYNAY_*`` variables.

``SETTINGS`` is the single source of truth: each setting's name, type, default and meaning.
The loader refuses a name the table does not know and a value of the wrong type, in one
line naming it, so a typo stops the start instead of being ignored. The README's settings
table and the defaults in ``config/yaynay.example.toml`` are generated from it
(``python -m service.settings --markdown`` / ``--toml``, see ``__main__.py``), and a test
keeps them equal. (A package rather than ``settings.py`` only so that ``python -m`` can run
it although ``service/__init__.py`` imports it.)

Environment variables are named after the setting (``VOTE_RATE_LIMIT`` is
``YAYNAY_VOTE_RATE_LIMIT``): ``true``/``false`` for booleans, comma-separated lists, and
empty for "the default" of a setting whose default is worked out (``DEMO``, ``WORKERS``).
Keys of the TOML file are the names in lower case (``vote_rate_limit``).
"""

from __future__ import annotations

import difflib
import json
import os
import secrets
import textwrap
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from service.ratelimit import RateLimit

ENV_PREFIX = "YAYNAY_"
CONFIG_VARIABLE = f"{ENV_PREFIX}CONFIG"

# YAYNAY_* variables that are not settings of the service, yet legitimately set where it
# runs; the loader passes them by. A name ending in "_" stands for every name it begins.
NOT_SETTINGS = (
    CONFIG_VARIABLE,  # names the settings file itself
    "YAYNAY_TEST_",  # the test suite's own: YAYNAY_TEST_REDIS_URL, a Redis to test against
    "YAYNAY_CHROMIUM",  # the browser tests' Chromium
)


class ConfigError(Exception):
    """A setting is missing or has a value that cannot be used; the message is one line naming it."""


class BadValue(ValueError):
    """A value (or one entry of a list) that a setting's type refuses; carries the offending value."""

    def __init__(self, value: object):
        super().__init__(value)
        self.value = value


# -- types: how a value is written in the environment and in TOML, and what it must be


class SettingType:
    """A setting's type: reads an environment variable's text, checks a TOML or Python value."""

    expected = "a value"  # completes "... must be <expected>, not <value>"

    def from_text(self, text: str) -> object:
        return self.from_value(text)

    def from_value(self, value: object) -> object:
        raise NotImplementedError


class Text(SettingType):
    expected = "a string"

    def from_value(self, value: object) -> object:
        if not isinstance(value, str):
            raise BadValue(value)
        return value


class Integer(SettingType):
    expected = "an integer"

    def from_text(self, text: str) -> object:
        try:
            return int(text)
        except ValueError:
            raise BadValue(text) from None

    def from_value(self, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadValue(value)
        return value


class IntegerBetween(Integer):
    """An integer from ``low`` to ``high``, both included."""

    def __init__(self, low: int, high: int):
        self.low, self.high = low, high
        self.expected = f"an integer from {low} to {high}"

    def from_value(self, value: object) -> object:
        number = super().from_value(value)
        if not self.low <= number <= self.high:  # type: ignore[operator]
            raise BadValue(value)
        return number


class Number(SettingType):
    expected = "a number"

    def from_text(self, text: str) -> object:
        try:
            return float(text)
        except ValueError:
            raise BadValue(text) from None

    def from_value(self, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadValue(value)
        return float(value)


class NumberBetween(Number):
    """A number from ``low`` to ``high``, both included."""

    def __init__(self, low: float, high: float):
        self.low, self.high = low, high
        self.expected = f"a number from {low:g} to {high:g}"

    def from_text(self, text: str) -> object:
        return self._within(super().from_text(text), text)

    def from_value(self, value: object) -> object:
        return self._within(super().from_value(value), value)

    def _within(self, number: object, given: object) -> object:
        if not self.low <= number <= self.high:  # type: ignore[operator]
            raise BadValue(given)
        return number


class Boolean(SettingType):
    expected = "true or false"

    def from_text(self, text: str) -> object:
        lowered = text.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off", ""}:
            return False
        raise BadValue(text)

    def from_value(self, value: object) -> object:
        if not isinstance(value, bool):
            raise BadValue(value)
        return value


class Choice(SettingType):
    def __init__(self, *options: str):
        self.options = options
        quoted = [repr(option) for option in options]
        self.expected = " or ".join([", ".join(quoted[:-1]), quoted[-1]] if len(quoted) > 1 else quoted)

    def from_text(self, text: str) -> object:
        return self.from_value(text.strip())

    def from_value(self, value: object) -> object:
        if value not in self.options:
            raise BadValue(value)
        return value


class RateText(SettingType):
    """A rate limit, kept as written (``"30/minute"``); ``RateLimit.parse`` reads it where it is used."""

    expected = "a rate limit like '30/minute' (N/second|minute|hour|day)"

    def from_text(self, text: str) -> object:
        return self.from_value(text.strip())

    def from_value(self, value: object) -> object:
        try:
            RateLimit.parse(value)
        except (TypeError, ValueError):
            raise BadValue(value) from None
        return value


class TextList(SettingType):
    """A list of strings: a TOML array, or comma-separated text; each entry checked by ``entry``."""

    expected = "a list of strings"

    def __init__(self, entry: SettingType | None = None, expected: str | None = None):
        self.entry = entry or Text()
        self.expected = expected or self.expected

    def from_text(self, text: str) -> object:
        return [self.entry.from_text(item.strip()) for item in text.split(",") if item.strip()]

    def from_value(self, value: object) -> object:
        if isinstance(value, str):
            return self.from_text(value)
        if not isinstance(value, (list, tuple)):
            raise BadValue(value)
        return [self.entry.from_value(item) for item in value]


class HostPort(SettingType):
    """``host:port``, a TCP address; the port a number."""

    expected = "an address like 'sentinel-1:26379' (host:port)"

    def from_value(self, value: object) -> object:
        if not isinstance(value, str):
            raise BadValue(value)
        host, _, port = value.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise BadValue(value)
        return value.strip()


class Origin(SettingType):
    """``scheme://host[:port]``: what a browser sends in ``Origin``; one trailing slash is dropped."""

    expected = "an origin like 'https://blog.example' (scheme://host[:port], no path)"

    def from_value(self, value: object) -> object:
        if not isinstance(value, str):
            raise BadValue(value)
        origin = value.strip().removesuffix("/")
        try:
            parts = urlsplit(origin)
            parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
        except ValueError:
            raise BadValue(value) from None
        if (
            not parts.scheme
            or not parts.hostname
            or parts.path
            or parts.query
            or parts.fragment
            or "@" in parts.netloc
            or origin != f"{parts.scheme}://{parts.netloc}"
        ):
            raise BadValue(value)
        return origin


class Auto(SettingType):
    """``inner``, or None for a default worked out at start (empty in the environment)."""

    def __init__(self, inner: SettingType, example: object):
        self.inner = inner
        self.example = example  # the value config/yaynay.example.toml shows
        self.expected = inner.expected

    def from_text(self, text: str) -> object:
        return None if not text.strip() else self.inner.from_text(text)

    def from_value(self, value: object) -> object:
        return None if value is None else self.inner.from_value(value)


STRING, INTEGER, NUMBER, BOOLEAN = Text(), Integer(), Number(), Boolean()
RATE_LIMIT = RateText()
RATE_LIMITS = TextList(RATE_LIMIT, expected="rate limits like '5/minute,50/day' (N/second|minute|hour|day)")
ORIGINS = TextList(Origin(), expected="origins like 'https://blog.example' (scheme://host[:port], no path)")


@dataclass(frozen=True)
class Setting:
    """One setting: ``YAYNAY_<name>`` in the environment, ``<name in lower case>`` in the TOML file."""

    name: str
    type: SettingType
    default: object
    meaning: str  # one sentence a publisher understands
    shown: str = ""  # how the docs show the default, where the value alone would mislead
    secret: bool = False  # belongs in the environment, not in a file

    @property
    def variable(self) -> str:
        return f"{ENV_PREFIX}{self.name}"

    @property
    def key(self) -> str:
        return self.name.lower()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "ENV",
        Choice("development", "production"),
        "development",
        "`production` requires SECRET_KEY and REDIS_URL; `development` makes a secret key and an embedded Redis.",
    ),
    Setting("VAR_DIR", STRING, "var", "Where development keeps the generated secret key and the embedded Redis."),
    Setting(
        "REDIS_URL",
        STRING,
        "",
        "The Redis to use (`redis://host:6379/0`, `rediss://…`, `unix:///path`); "
        "empty: an embedded Redis under VAR_DIR, which `yaynay serve` starts and stops.",
        shown="(embedded)",
        secret=True,
    ),
    Setting("REDIS_CLUSTER", BOOLEAN, False, "Set when REDIS_URL names a Redis Cluster node."),
    Setting(
        "REDIS_SENTINELS",
        TextList(HostPort(), expected="addresses like 'sentinel-1:26379,sentinel-2:26379' (host:port)"),
        [],
        "Redis Sentinels (`host:port`, comma-separated) to ask where the master is; "
        "REDIS_URL then gives only the password and database. Empty: no Sentinel.",
        shown="(none)",
    ),
    Setting(
        "REDIS_SENTINEL_MASTER",
        STRING,
        "mymaster",
        "The name the sentinels monitor the master under (REDIS_SENTINELS).",
    ),
    Setting(
        "REDIS_SOCKET_TIMEOUT",
        NUMBER,
        0.5,
        "Seconds to wait for Redis to answer; short, so that a dead Redis turns into a quick 503.",
    ),
    Setting("REDIS_CONNECT_TIMEOUT", NUMBER, 0.5, "Seconds to wait for a connection to Redis."),
    Setting("REDIS_MAX_CONNECTIONS", INTEGER, 50, "Redis connections per worker process."),
    Setting("REDIS_POOL_TIMEOUT", NUMBER, 1.0, "Seconds a request waits for a free Redis connection."),
    Setting(
        "REPLICA_WAIT_COUNT",
        INTEGER,
        1,
        "Replicas that must have a comment or a moderation decision before it is acknowledged (`WAIT`); "
        "a master with fewer connected replicas is waited on for those it has, none for none; 0: never wait.",
    ),
    Setting(
        "REPLICA_WAIT_MS",
        INTEGER,
        250,
        "Milliseconds a write waits for its replicas before the answer is 503 with Retry-After "
        "(keep it under REDIS_SOCKET_TIMEOUT).",
    ),
    Setting("REPLICA_WAIT_VOTES", BOOLEAN, False, "Votes wait for replicas too (REPLICA_WAIT_COUNT, REPLICA_WAIT_MS)."),
    Setting("KEY_PREFIX", STRING, "yaynay", "Prefix of every Redis key."),
    Setting(
        "SECRET_KEY",
        STRING,
        "",
        "Key of every keyed hash (voters, IPs, e-mail addresses); required in production.",
        shown="generated into `VAR_DIR/secret_key` in development",
        secret=True,
    ),
    Setting("ADMIN_TOKEN", STRING, "", "Bearer token of the bootstrap admin; empty: none.", secret=True),
    Setting(
        "METRICS_TOKEN",
        STRING,
        "",
        "Bearer token that may read `/metrics` (a Prometheus scraper); admin tokens may too; empty: none.",
        secret=True,
    ),
    Setting(
        "ALLOWED_ORIGINS",
        ORIGINS,
        [],
        "Origins of the publisher's sites (`https://blog.example`, comma-separated), "
        "which may call the API from a browser (CORS) and show the widget.",
    ),
    Setting(
        "PROXY_HOPS",
        INTEGER,
        0,
        "How many `X-Forwarded-For` entries, counted from the right, were added by proxies you trust.",
    ),
    Setting("VOTE_RATE_LIMIT", RATE_LIMIT, "30/minute", "Votes per client IP and poll, as `N/second|minute|hour|day`."),
    Setting("VOTERS_PER_IP_PER_DAY", INTEGER, 20, "Distinct new voters one client IP may bring to one poll in a day."),
    Setting(
        "AUTO_CREATE_POLLS",
        BOOLEAN,
        False,
        "Let the first vote on an unknown poll id create the poll (bounded per client IP a day, and by MAX_POLLS).",
    ),
    Setting(
        "MAX_POLLS",
        INTEGER,
        0,
        "Most polls that votes may create when AUTO_CREATE_POLLS is on; 0: no site-wide ceiling,"
        " only AUTO_CREATE_POLLS_PER_IP_PER_DAY.",
    ),
    Setting(
        "AUTO_CREATE_POLLS_PER_IP_PER_DAY",
        INTEGER,
        10,
        "Most polls first votes from one client IP may create in a UTC day when AUTO_CREATE_POLLS is on.",
    ),
    Setting(
        "MODERATION",
        Choice("pre", "off"),
        "pre",
        "`pre`: every comment waits for a moderator; `off`: comments are published at once.",
    ),
    Setting(
        "COMMENT_RATE_LIMITS",
        RATE_LIMITS,
        ["5/minute", "50/day"],
        "Comments per client IP, site-wide; every one of these limits applies.",
    ),
    Setting(
        "PENDING_SURGE_PER_HOUR",
        INTEGER,
        100,
        "Comments submitted site-wide in an hour above which new comments are held for a moderator,"
        " even with MODERATION off, until the next hour.",
    ),
    Setting(
        "TRUSTED_AFTER_APPROVED",
        INTEGER,
        0,
        "Approved comments in a row after which an email's comments are published without waiting"
        " (0: off); a rejection starts the count again.",
    ),
    Setting("AKISMET_KEY", STRING, "", "Akismet (or compatible) API key; empty: no content check.", secret=True),
    Setting(
        "AKISMET_ENDPOINT", STRING, "https://rest.akismet.com", "Base URL of the Akismet-compatible content check."
    ),
    Setting("AKISMET_BLOG", STRING, "", "The site URL sent to the content check as ``blog``."),
    Setting(
        "AKISMET_TIMEOUT",
        NUMBER,
        2.0,
        "Seconds to wait for the content check; past it the comment is held with the reason.",
    ),
    Setting(
        "NEW_THREADS_PER_IP_PER_DAY",
        INTEGER,
        100,
        "New threads (first comments on articles without any) one client IP may start in a UTC day;"
        " 0: no limit. There is no site-wide ceiling on threads.",
    ),
    Setting(
        "DECIDED_RETENTION_DAYS",
        INTEGER,
        365,
        "Days an approved, rejected or spam comment stays in the site-wide queue of its status,"
        " by submission time (0: forever); the comment itself stays. Pending ones are never dropped.",
    ),
    Setting(
        "LOG_RETENTION_DAYS",
        INTEGER,
        365,
        "Days a moderation decision stays in the site-wide and the thread's logs (0: forever).",
    ),
    Setting(
        "WEBHOOK_ALLOW_PRIVATE",
        BOOLEAN,
        False,
        "Let webhook URLs resolve to loopback, private or link-local addresses (receivers on your own network).",
    ),
    Setting("DIGEST_MINUTES", INTEGER, 30, "Minutes between two mails to moderators listing new pending comments."),
    Setting(
        "SMTP_URL",
        STRING,
        "",
        "Mail server for moderators' mail: `smtp://user:password@host:port` (STARTTLS when offered), "
        "`smtps://...` for TLS; empty: no mail.",
        secret=True,
    ),
    Setting("SMTP_FROM", STRING, "yaynay@localhost", "The From address of moderators' mail."),
    Setting(
        "PUBLIC_URL",
        STRING,
        "",
        "The service's address, e.g. `https://comments.example`, for links in mail; empty: paths.",
    ),
    Setting("COMMENT_AUTHOR_MAX_LENGTH", INTEGER, 80, "Longest author name of a comment, in characters."),
    Setting("COMMENT_BODY_MAX_LENGTH", INTEGER, 5000, "Longest comment, in characters."),
    Setting(
        "HONEYPOT_FIELD", STRING, "subject", "Name of the hidden form field that people leave empty and bots fill in."
    ),
    Setting(
        "DUPLICATE_WINDOW", INTEGER, 600, "Seconds within which the same text from the same client is the same comment."
    ),
    Setting("IDEMPOTENCY_TTL", INTEGER, 86400, "Seconds an `Idempotency-Key` is remembered."),
    Setting(
        "EDIT_WINDOW",
        INTEGER,
        900,
        "Seconds after posting during which a reader may edit their own comment (deleting has no limit).",
    ),
    Setting(
        "INDEX_REPAIR_INTERVAL",
        IntegerBetween(1, 50),
        30,
        "Redis Cluster: seconds between repairs of comments a crash left out of the moderation queue "
        "or email index (1-50, so an orphan is indexed within a minute).",
    ),
    Setting("COMMENTS_PAGE_SIZE", INTEGER, 50, "Comments per page when a request names no number (at most 100)."),
    Setting("MAX_CONTENT_LENGTH", INTEGER, 16 * 1024, "Largest request body in bytes; a larger one gets 413."),
    Setting("POLL_CACHE_MAX_AGE", INTEGER, 5, "Seconds browsers and CDNs may cache a public poll answer."),
    Setting(
        "READ_CACHE_TTL",
        NUMBER,
        5.0,
        "Seconds a worker may serve a tally or thread page it read before (a change ends that at once); "
        "0 reads Redis every time.",
    ),
    Setting(
        "DEMO",
        Auto(BOOLEAN, example=True),
        None,
        "Serve the demo article at `/`.",
        shown="on, off in production",
    ),
    Setting(
        "CONSOLE",
        BOOLEAN,
        True,
        "Serve the moderation console at `/moderate` (moderators' queue; polls, threads and tokens for admins).",
    ),
    Setting("EVENTS_KEEPALIVE", NUMBER, 15.0, "Seconds between keep-alive comments on an idle live tally stream."),
    Setting(
        "EVENTS_INTERVAL",
        NumberBetween(0.05, 10),
        0.25,
        "Seconds a live tally stream waits at least between two events: votes in between are coalesced. "
        "The fan-out's cost is streams × events a second (docs/scaling.md).",
    ),
    Setting(
        "STREAMS_PER_IP",
        INTEGER,
        20,
        "Live tally streams one client IP may hold on one worker process; one more gets 429 and the widget polls.",
    ),
    Setting(
        "STREAMS_PER_WORKER",
        INTEGER,
        3000,
        "Live tally streams one worker process holds; kept under WORKER_CONNECTIONS so other requests get through.",
    ),
    Setting(
        "REQUEST_TIMEOUT",
        NUMBER,
        10.0,
        "Seconds a request's body may take to arrive; a slower one is cut off with 408.",
    ),
    Setting(
        "UNAVAILABLE_RETRY_AFTER",
        INTEGER,
        1,
        "Seconds a client is told to wait (`Retry-After`) before retrying while Redis is unavailable.",
    ),
    # Read by service/gunicorn_conf.py (ACCESS_LOG also by the app).
    Setting("BIND", STRING, "127.0.0.1:8000", "Where gunicorn listens: `host:port` or `unix:/path`."),
    Setting("WORKERS", Auto(INTEGER, example=4), None, "gunicorn worker processes.", shown="one per CPU"),
    Setting(
        "WORKER_CLASS",
        STRING,
        "gevent",
        "gunicorn's worker class; gevent workers hold thousands of live tally streams each.",
    ),
    Setting(
        "WORKER_CONNECTIONS", INTEGER, 4000, "Connections one gevent worker holds at once, live tally streams included."
    ),
    Setting(
        "ACCESS_LOG",
        BOOLEAN,
        True,
        "Log a line for every request: request id, method, route, status, duration (never an IP address).",
    ),
    Setting(
        "ACCESS_LOG_FLUSH_INTERVAL",
        NumberBetween(0, 10),
        1.0,
        "Seconds a worker gathers access lines before writing them together (0: each at once). "
        "A worker killed by SIGKILL loses at most that many seconds of access lines.",
    ),
    Setting(
        "LOG_FORMAT",
        Auto(Choice("json", "text"), example="json"),
        None,
        "`json`: one JSON object a line, for a log collector; `text`: lines for people.",
        shown="`json`, `text` in development",
    ),
    Setting("LOG_LEVEL", Choice("debug", "info", "warning", "error", "critical"), "info", "How much yaynay logs."),
)

TABLE: dict[str, Setting] = {setting.name: setting for setting in SETTINGS}


# -- loading


def load_settings(overrides: Mapping | None = None, environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """Return the settings: defaults, then the ``YAYNAY_CONFIG`` file, the environment, ``overrides``.

    Raises ConfigError, with one line naming the key or variable, for a name the table does
    not know and for a value that is not of its setting's type. ``overrides`` (the tests'
    settings) may also hold keys that are not settings, such as ``CLOCK``; those pass unchecked.
    """
    environ = os.environ if environ is None else environ
    settings: dict[str, object] = {setting.name: setting.default for setting in SETTINGS}
    config_file = environ.get(CONFIG_VARIABLE)
    if config_file:
        settings.update(_read_file(config_file))
    settings.update(_read_environment(environ))
    for name, value in (overrides or {}).items():
        settings[name] = _checked(TABLE[name], value, name) if name in TABLE else value
    settings["SECRET_KEY"] = settings["SECRET_KEY"] or _development_secret_key(settings)
    if settings["DEMO"] is None:
        settings["DEMO"] = settings["ENV"] != "production"
    if settings["LOG_FORMAT"] is None:
        settings["LOG_FORMAT"] = "json" if settings["ENV"] == "production" else "text"
    if settings["REDIS_SENTINELS"] and settings["REDIS_CLUSTER"]:
        raise ConfigError(f"{ENV_PREFIX}REDIS_SENTINELS and {ENV_PREFIX}REDIS_CLUSTER exclude each other")
    settings["REDIS_EMBEDDED"] = not settings["REDIS_URL"] and not settings["REDIS_SENTINELS"]
    if settings["REDIS_EMBEDDED"]:
        if settings["ENV"] == "production":
            raise ConfigError(f"{ENV_PREFIX}REDIS_URL is required when {ENV_PREFIX}ENV=production")
        settings["REDIS_URL"] = f"unix://{embedded_redis_dir(settings) / 'redis.sock'}"
    return settings


def _read_file(path: str) -> dict[str, object]:
    try:
        with open(path, "rb") as handle:
            from_file = tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"{CONFIG_VARIABLE} names {path}, which cannot be read: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    settings = {}
    for key, value in from_file.items():
        setting = TABLE.get(key.upper())
        if setting is None:
            raise ConfigError(f"unknown setting {key!r} in {path}{_did_you_mean(key, [s.key for s in SETTINGS])}")
        settings[setting.name] = _checked(setting, value, f"{key} in {path}")
    return settings


def _read_environment(environ: Mapping[str, str]) -> dict[str, object]:
    settings = {}
    for variable, text in environ.items():
        if not variable.startswith(ENV_PREFIX) or _is_not_a_setting(variable):
            continue
        setting = TABLE.get(variable.removeprefix(ENV_PREFIX))
        if setting is None:
            raise ConfigError(
                f"unknown setting {variable!r} in the environment"
                f"{_did_you_mean(variable, [s.variable for s in SETTINGS])}"
            )
        try:
            settings[setting.name] = setting.type.from_text(text)
        except BadValue as error:
            raise ConfigError(_must_be(variable, setting, error.value)) from None
    return settings


def _is_not_a_setting(variable: str) -> bool:
    return any(variable.startswith(name) if name.endswith("_") else variable == name for name in NOT_SETTINGS)


def _checked(setting: Setting, value: object, where: str) -> object:
    try:
        return setting.type.from_value(value)
    except BadValue as error:
        raise ConfigError(_must_be(where, setting, error.value)) from None


def _must_be(where: str, setting: Setting, value: object) -> str:
    return f"{where} must be {setting.type.expected}, not {value!r}"


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else " (the settings are listed in config/yaynay.example.toml)"


def embedded_redis_dir(settings: Mapping) -> Path:
    """Where the embedded Redis keeps its socket, append-only file and log."""
    return (Path(str(settings["VAR_DIR"])) / "redis").resolve()


def _development_secret_key(settings: Mapping) -> str:
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


# -- the documents generated from the table


def markdown_table() -> str:
    """The README's settings table: variable, default, meaning; one row a setting, in table order."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for setting in SETTINGS:
        cells = (f"`{setting.variable}`", _shown_default(setting), setting.meaning)
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows) + "\n"


def _shown_default(setting: Setting) -> str:
    default = setting.default
    if setting.shown:
        return setting.shown
    if default in ("", []):
        return "none"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, float):
        return f"`{default:g}`"
    if isinstance(default, list):
        return f"`{','.join(default)}`"
    return f"`{default}`"


def toml_defaults() -> str:
    """config/yaynay.example.toml's block of defaults: each setting's meaning, then its key and default."""
    lines = []
    for setting in SETTINGS:
        lines.extend(
            textwrap.wrap(
                setting.meaning, width=92, initial_indent="# ", subsequent_indent="# ", break_on_hyphens=False
            )
        )
        if setting.secret:
            lines.append(f"# {setting.key}: a secret; set {setting.variable} in the environment instead")
        elif setting.default is None:
            example = setting.type.example if isinstance(setting.type, Auto) else None
            lines.append(f"# {setting.key} = {_toml_value(example)}  # default: {setting.shown}")
        else:
            lines.append(f"# {setting.key} = {_toml_value(setting.default)}")
        lines.append("")
    return "\n".join(lines[:-1]) + "\n"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return json.dumps(value)  # a TOML basic string: the same quotes and escapes
