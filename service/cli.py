"""The ``yaynay`` command: run the service, manage polls, tokens and privacy requests.

Every command calls the same core functions as the API (``service/core/``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from marshmallow import ValidationError

from service.core import (
    Core,
    archive,
    audit,
    events,
    imports,
    mail,
    polls,
    privacy,
    spam,
    store_problem,
    threads,
    tokens,
)
from service.core.demo import ensure_demo_poll
from service.errors import YaynayError
from service.schemas import (
    EMAIL_PATTERN,
    POLL_ID_PATTERN,
    WEBSITE_PATTERN,
    ModerationCommentSchema,
    PollSchema,
    PollUpdateSchema,
    present_for_moderator,
    present_poll,
)
from service.settings import ConfigError, embedded_redis_dir, load_settings

# In the package, so that an installed wheel serves (config/gunicorn.conf.py runs this file).
DEFAULT_GUNICORN_CONFIG = Path(__file__).resolve().parent / "gunicorn_conf.py"


@contextlib.contextmanager
def redis_for(settings: dict[str, Any]) -> Iterator[None]:
    """Yield with a Redis to talk to: the configured one, or the embedded one, started if needed.

    An embedded Redis started here is stopped on the way out; one already running
    (a `yaynay serve` in another terminal) is left alone.
    """
    if not settings["REDIS_EMBEDDED"]:
        yield
        return
    from service.store.embedded import RedisProcess

    embedded = RedisProcess(embedded_redis_dir(settings), persist=True)
    if embedded.is_answering():
        yield
        return
    with embedded:
        yield


@contextlib.contextmanager
def command_core() -> Iterator[Core]:
    """The core on the configured (or embedded) Redis, for one command; a refusal is one line."""
    settings = _settings()
    with redis_for(settings):
        problem = store_problem(settings)
        if problem:
            raise click.ClickException(problem)
        core = Core.from_settings(settings)
        try:
            yield core
        except YaynayError as error:
            raise click.ClickException(error.message) from None
        finally:
            core.close()


def _settings() -> dict[str, Any]:
    try:
        return load_settings()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


@click.group()
def main() -> None:
    """yaynay: reader YAY/NAY polls and comments."""


@main.command()
@click.option(
    "--config",
    "gunicorn_config",
    type=click.Path(exists=True, dir_okay=False),
    default=str(DEFAULT_GUNICORN_CONFIG),
    show_default=True,
    help="gunicorn settings file.",
)
@click.option("--bind", help="host:port to listen on (default: the BIND setting, 127.0.0.1:8000).")
def serve(gunicorn_config: str, bind: str | None) -> None:
    """Serve under gunicorn, with an embedded Redis when YAYNAY_REDIS_URL is not set.

    Every problem found at start is one line naming the setting and the fix. Ctrl-C or
    SIGTERM stops gunicorn (its workers end their live streams), then the embedded Redis.
    """
    settings = _settings()
    bind = bind or str(settings["BIND"])
    _hold_var_dir(settings)
    _check_bind(bind)
    env = dict(os.environ, YAYNAY_BIND=bind)
    if settings["REDIS_EMBEDDED"]:
        click.echo(f"yaynay: embedded Redis in {embedded_redis_dir(settings)}")
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    # Ctrl-C reaches every process in the terminal's group; gunicorn and Redis run in groups
    # of their own, so that this process stops them in order: gunicorn, then Redis.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    with redis_for(settings):
        problem = store_problem(settings)
        if problem:
            raise click.ClickException(problem)
        if settings["DEMO"]:
            with command_core() as core:
                ensure_demo_poll(core)
        if stopping:
            sys.exit(0)
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", gunicorn_config, "service.wsgi:app"],
            env=env,
            start_new_session=True,
        )
        # One job worker beside gunicorn: webhook deliveries and moderators' mail.
        worker = subprocess.Popen([sys.executable, "-m", "service.cli", "worker"], env=env, start_new_session=True)
        click.echo(f"yaynay: serving on http://{bind} (Ctrl-C stops)")
        while gunicorn.poll() is None and not stopping:
            time.sleep(0.1)
        # Both at once, the job worker's group whole (its scheduler is a child process): it
        # finishes the job at hand while gunicorn's workers end their requests and streams.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGTERM)
        if stopping:
            _stop(gunicorn, "gunicorn", timeout=5)
            code = 0
        else:
            code = gunicorn.returncode
        _stop(worker, "the job worker", timeout=10)
    sys.exit(code)


def _stop(process: subprocess.Popen[bytes], what: str, *, timeout: float) -> None:
    """SIGTERM ``process`` and wait ``timeout`` seconds for it, then kill it."""
    started = time.monotonic()
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    click.echo(f"yaynay: stopped {what} in {time.monotonic() - started:.1f} s", err=True)


@main.command()
@click.option("--burst", is_flag=True, help="Run the jobs waiting now, then exit.")
def worker(burst: bool) -> None:
    """Run background jobs: webhook deliveries (with their retries) and moderators' mail.

    One is enough for most sites; run more (here or on other hosts) when
    webhook receivers are slow. SIGTERM ends it after the job at hand.
    """
    with command_core() as core:
        mail.run_worker(core, burst=burst)


def _hold_var_dir(settings: dict[str, Any]) -> None:
    """Lock VAR_DIR for this process's life: a second server there would share its embedded Redis
    and its metrics directory, then fail on the port after saying it was serving."""
    var_dir = Path(str(settings["VAR_DIR"])).resolve()
    try:
        var_dir.mkdir(parents=True, exist_ok=True)
        lock = open(var_dir / "serve.lock", "w")  # noqa: SIM115 -- held until the process exits
    except OSError as error:
        raise click.ClickException(
            f"YAYNAY_VAR_DIR={var_dir} cannot be written ({error.strerror}); choose a writable directory"
        ) from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise click.ClickException(
            f"another yaynay serve is running on YAYNAY_VAR_DIR={var_dir}; "
            "stop it, or give this one another YAYNAY_VAR_DIR"
        ) from None
    _held.append(lock)


_held: list[Any] = []


def _check_bind(bind: str) -> None:
    """Refuse a host:port that something already listens on, before anything starts."""
    if bind.startswith(("unix:", "fd://")):
        return
    host, _, port = bind.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
            probe.bind((host, int(port)))
    except ValueError:
        raise click.ClickException(f"YAYNAY_BIND={bind} is not host:port (127.0.0.1:8000) or unix:/path") from None
    except OSError as error:
        raise click.ClickException(
            f"cannot listen on {bind} ({error.strerror}); stop what listens there, "
            "or choose another address with --bind or YAYNAY_BIND"
        ) from None


@main.group()
def poll() -> None:
    """Create, list, close, reopen and delete polls."""


def _poll_id(poll_id: str) -> str:
    if not re.match(POLL_ID_PATTERN, poll_id):
        raise click.BadParameter("1-64 characters of a-z, 0-9 and '-'.", param_hint="POLL_ID")
    return poll_id


@poll.command("create")
@click.argument("poll_id")
@click.argument("question")
@click.option(
    "--closes-at",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"]),
    help="When voting stops, ISO 8601 (UTC unless an offset is given).",
)
@click.option("--no-change", is_flag=True, help="Readers may not change their vote.")
def poll_create(poll_id: str, question: str, closes_at: dt.datetime | None, no_change: bool) -> None:
    """Create or update POLL_ID asking QUESTION, keeping any tally it has."""
    _poll_id(poll_id)
    try:
        PollUpdateSchema().load({"question": question})
    except ValidationError as error:
        messages = error.messages["question"] if isinstance(error.messages, dict) else error.messages
        raise click.BadParameter("; ".join(messages), param_hint="QUESTION") from None
    with command_core() as core:
        found, created = polls.save_poll(
            core, poll_id, question=question, closes_at=closes_at, allow_change=not no_change
        )
        click.echo(
            ("created " if created else "updated ")
            + json.dumps(PollSchema().dump(present_poll(found, core.now())), sort_keys=True)
        )


@poll.command("show")
@click.argument("poll_id")
def poll_show(poll_id: str) -> None:
    """Print POLL_ID with its tally, and check yay and nay each against the voter records;
    exits 1 when either differs."""
    with command_core() as core:
        check = polls.check_tally(core, poll_id)
        click.echo(json.dumps(PollSchema().dump(present_poll(check.poll, core.now())), sort_keys=True))
    click.echo(f"voter records: {check.records} ({'match' if check.matches else 'DO NOT MATCH'} the tally)")
    for choice in ("yay", "nay"):
        tallied, recorded = getattr(check.poll, choice), check.records[choice]
        if tallied != recorded:
            click.echo(f"{choice}: tally {tallied}, voter records {recorded}", err=True)
    if not check.matches:
        sys.exit(1)


@main.command()
@click.option(
    "--repair", is_flag=True, help="Write the missing queue and email index entries (tallies are only reported)."
)
def check(repair: bool) -> None:
    """Check every poll's tally against its voter records and every stored comment against the
    moderation queue and the email index: one line a problem, then a summary; exits 1 on a problem."""
    summary = audit.Summary()
    problems = 0
    with command_core() as core:
        for problem in audit.check_everything(core, summary, repair=repair):
            problems += 1
            click.echo(f"{problem.subject}: {problem.description}{' (repaired)' if problem.repaired else ''}")
    click.echo(
        f"checked {summary.polls} poll{'s' if summary.polls != 1 else ''} and {summary.threads} "
        f"thread{'s' if summary.threads != 1 else ''}: {problems or 'no'} problem{'s' if problems != 1 else ''}"
    )
    if problems:
        sys.exit(1)


PAGE_SIZE = 100


@poll.command("list")
def poll_list() -> None:
    """List every poll, newest first: id, state, yay, nay, created, question (tab-separated)."""
    with command_core() as core:
        cursor: str | None = None
        while True:
            page = polls.list_polls(core, limit=PAGE_SIZE, cursor=cursor)
            at = core.now()
            for found in page.polls:
                fields = (found.id, found.state(at), found.yay, found.nay, _when(found.created_at), found.question)
                click.echo("\t".join(map(str, fields)))
            cursor = page.next_cursor
            if cursor is None:
                break


@poll.command("close")
@click.argument("poll_id", callback=lambda _ctx, _param, value: _poll_id(value))
def poll_close(poll_id: str) -> None:
    """Stop POLL_ID taking votes now; its tally stays."""
    with command_core() as core:
        polls.close_poll(core, poll_id)
    click.echo(f"closed {poll_id}")


@poll.command("reopen")
@click.argument("poll_id", callback=lambda _ctx, _param, value: _poll_id(value))
def poll_reopen(poll_id: str) -> None:
    """Let POLL_ID take votes again, with no closing time."""
    with command_core() as core:
        polls.reopen_poll(core, poll_id)
    click.echo(f"reopened {poll_id}")


@poll.command("compact")
@click.argument("poll_ids", nargs=-1, metavar="[POLL_ID]...")
@click.option(
    "--max-voters",
    type=click.IntRange(min=0),
    default=polls.COMPACT_MAX_VOTERS,
    show_default=True,
    help="Leave legacy polls with more voters as they are (each compaction holds Redis while it runs).",
)
def poll_compact(poll_ids: tuple[str, ...], max_voters: int) -> None:
    """Rewrite the voters of polls stored before voter buckets split (16,384 fixed buckets
    a poll) into buckets that split: POLL_IDs, or every poll. One line a poll."""
    for poll_id in poll_ids:
        _poll_id(poll_id)
    with command_core() as core:
        for done in polls.compact_voters(core, list(poll_ids) or None, max_voters=max_voters):
            if done.skipped:
                click.echo(f"{done.poll_id}: left as it is ({done.skipped})")
            else:
                plural = "s" if done.buckets != 1 else ""
                click.echo(f"{done.poll_id}: {done.voters} voters in {done.buckets} bucket{plural}")


@poll.command("delete")
@click.argument("poll_id", callback=lambda _ctx, _param, value: _poll_id(value))
@click.confirmation_option(prompt="Delete this poll, its tally and every voter record?")
def poll_delete(poll_id: str) -> None:
    """Delete POLL_ID with its tally and voter records (its comments stay); asks first, unless --yes."""
    with command_core() as core:
        polls.delete_poll(core, poll_id)
    click.echo(f"deleted {poll_id}")


@main.group()
def thread() -> None:
    """Inspect comment threads."""


@thread.command("list")
def thread_list() -> None:
    """List every thread, newest first: id, pending, approved, rejected, spam, first comment, article."""
    with command_core() as core:
        cursor: str | None = None
        while True:
            page = threads.list_threads(core, limit=PAGE_SIZE, cursor=cursor)
            for found in page.threads:
                counts = [found.counts[status] for status in threads.STATUSES]
                fields = (found.id, *counts, _when(found.first_comment_at), found.page_url or "-")
                click.echo("\t".join(map(str, fields)))
            cursor = page.next_cursor
            if cursor is None:
                break


@main.group()
def token() -> None:
    """Bearer tokens for moderators and admins."""


class Duration(click.ParamType):
    """A length of time as ``<N>d``, ``<N>h`` or ``<N>m`` (days, hours, minutes), in seconds."""

    name = "duration"
    UNITS = {"d": 86400, "h": 3600, "m": 60}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        found = re.fullmatch(r"([1-9][0-9]{0,5})([dhm])", str(value).strip())
        if not found:
            self.fail(f"{value!r} is not a duration like 30d, 12h or 90m", param, ctx)
        return int(found.group(1)) * self.UNITS[found.group(2)]


def _when(timestamp: float | None, otherwise: str = "-") -> str:
    """A time as ISO 8601 in UTC, or ``otherwise`` when there is none."""
    if timestamp is None:
        return otherwise
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).isoformat(timespec="seconds")


@token.command("create")
@click.option("--name", required=True, help="Who holds the token; shown in the audit log.")
@click.option("--role", type=click.Choice(tokens.ROLES), default=tokens.MODERATOR, show_default=True)
@click.option("--expires", type=Duration(), help="Stop working after this long: 30d, 12h or 90m (default: never).")
def token_create(name: str, role: str, expires: int | None) -> None:
    """Create a token and print it once; only its hash is stored."""
    if not tokens.TOKEN_NAME.match(name):
        raise click.BadParameter("1-64 characters of letters, digits and _ . @ -", param_hint="--name")
    if name in tokens.RESERVED_NAMES:
        raise click.BadParameter(f"{name!r} names yaynay's own actions in the log; choose another", param_hint="--name")
    with command_core() as core:
        created = tokens.create_token(core, name, role, lifetime=expires)
        expires_at = core.now() + expires if expires else None
    click.echo(created)
    until = f", valid until {_when(expires_at, '')}" if expires_at else ""
    click.echo(f"(the {role} token of {name}{until}; it is not shown again)", err=True)


@token.command("list")
def token_list() -> None:
    """List token holders, their roles, when each token was made and when it expires."""
    with command_core() as core:
        holders = tokens.list_tokens(core)
        now = core.now()
    for holder in holders:
        expires = _when(holder.expires_at, "never") + (" (expired)" if holder.expired(now) else "")
        click.echo(f"{holder.name}\t{holder.role}\t{_when(holder.created_at or 0, '')}\texpires {expires}")


@token.command("revoke")
@click.argument("name")
def token_revoke(name: str) -> None:
    """Revoke NAME's token at once."""
    with command_core() as core:
        if not tokens.revoke_token(core, name):
            raise click.ClickException(f"no token named {name!r}")
    click.echo(f"revoked {name}")


@main.group("privacy")
def privacy_group() -> None:
    """Find or erase what one person submitted."""


@privacy_group.command("export")
@click.option("--email", required=True)
def privacy_export(email: str) -> None:
    """Print every stored comment submitted with EMAIL, as JSON."""
    with command_core() as core:
        found = privacy.comments_by_email(core, email)
        click.echo(
            json.dumps(
                {
                    "email": email,
                    "comments": ModerationCommentSchema(many=True).dump(
                        [present_for_moderator(comment) for comment in found]
                    ),
                },
                indent=2,
                sort_keys=True,
            )
        )


@privacy_group.command("delete")
@click.option("--email", required=True)
@click.confirmation_option(prompt="Delete every comment submitted with this address?")
def privacy_delete(email: str) -> None:
    """Delete every comment submitted with EMAIL, published copies included, and say how many."""
    with command_core() as core:
        removed = privacy.erase_by_email(core, email)
    click.echo(f"deleted {removed} comment{'s' if removed != 1 else ''} submitted with {email}")


@main.group("import")
def import_group() -> None:
    """Bring comments in from Disqus or WordPress exports (a second run adds nothing)."""


def _import(source: str, path: str, map_path: str | None) -> None:
    """Import one export file with a progress bar on stderr, then print the summary."""
    thread_map: dict[str, str] = {}
    if map_path:
        try:
            with open(map_path, newline="", encoding="utf-8") as rows:
                thread_map = imports.read_thread_map(rows)
        except (ValueError, UnicodeDecodeError) as error:
            raise click.BadParameter(str(error), param_hint="--map") from None
    checks = imports.FieldChecks(
        email=lambda value: len(value) <= 254 and re.match(EMAIL_PATTERN, value) is not None,
        website=lambda value: len(value) <= 300 and re.match(WEBSITE_PATTERN, value) is not None,
    )
    with command_core() as core, open(path, "rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        with click.progressbar(length=size, label="importing", file=sys.stderr) as bar:
            summary = imports.import_comments(
                core, source, stream, checks=checks, thread_map=thread_map, progress=bar.update
            )
    click.echo(
        f"imported {summary.created} comment{'s' if summary.created != 1 else ''} into "
        f"{len(summary.threads)} thread{'s' if len(summary.threads) != 1 else ''} "
        f"({summary.rate:,.0f} comments/s); {summary.already_imported} already imported, "
        f"{summary.orphans} orphan{'s' if summary.orphans != 1 else ''} imported top-level, "
        f"{summary.shortened} cut to the configured lengths"
    )
    skipped = sum(summary.skipped.values())
    click.echo(
        f"skipped {skipped}" + "".join(f"\n  {count}\t{reason}" for reason, count in sorted(summary.skipped.items()))
    )


@import_group.command("disqus")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--map", "map_path", type=click.Path(exists=True, dir_okay=False), help="CSV of url,thread_id rows.")
def import_disqus(path: str, map_path: str | None) -> None:
    """Import a Disqus export (XML). Thread ids come from the article URLs, unless --map names them."""
    _import("disqus", path, map_path)


@import_group.command("wordpress")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--map", "map_path", type=click.Path(exists=True, dir_okay=False), help="CSV of url,thread_id rows.")
def import_wordpress(path: str, map_path: str | None) -> None:
    """Import a WordPress export (WXR). Thread ids come from the post URLs, unless --map names them."""
    _import("wordpress", path, map_path)


@main.command("export")
@click.argument("path", type=click.Path(dir_okay=False, writable=True, allow_dash=True))
@click.option("--no-personal-data", is_flag=True, help="Leave out emails, their digests, IP digests and user agents.")
def export_command(path: str, no_personal_data: bool) -> None:
    """Write every poll, voter record, comment, moderation log entry and token name to PATH
    as JSON Lines ('-' for stdout)."""
    lines = 0
    with command_core() as core, click.open_file(path, "w", encoding="utf-8", atomic=path != "-") as out:
        for line in archive.export_lines(core, personal_data=not no_personal_data):
            out.write(line + "\n")
            lines += 1
    if path != "-":
        # The file holds emails (unless --no-personal-data) and every voter digest.
        os.chmod(path, 0o600)
    click.echo(f"exported {lines - 1} record{'s' if lines != 2 else ''} to {path}", err=True)


@main.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--merge", is_flag=True, help="Restore into a Redis that already holds yaynay data; records overwrite.")
def restore_command(path: str, merge: bool) -> None:
    """Restore an export made by `yaynay export` into an empty Redis (or any, with --merge)."""
    with command_core() as core, click.open_file(path, "r", encoding="utf-8") as lines:
        summary = archive.restore_lines(core, lines, merge=merge)
    labels = {
        "poll": "polls",
        "voters": "voter buckets",
        "thread": "threads",
        "comment": "comments",
        "log": "log entries",
    }
    counts = ", ".join(f"{summary.counts.get(kind, 0)} {label}" for kind, label in labels.items())
    click.echo(f"restored {counts}")
    if summary.tokens_to_issue:
        click.echo(f"tokens are not restored; issue them again: {', '.join(summary.tokens_to_issue)}")


@main.group()
def webhook() -> None:
    """Webhook endpoints: signed HTTP POSTs on comment and poll events."""


@webhook.command("add")
@click.argument("url")
@click.option("--event", "event_types", multiple=True, type=click.Choice(events.EVENTS), help="Repeat; default: all.")
@click.option("--format", "body_format", type=click.Choice(events.FORMATS), default="standard", show_default=True)
@click.option("--private", is_flag=True, help="Include commenters' email and IP digest in payloads.")
def webhook_add(url: str, event_types: tuple[str, ...], body_format: str, private: bool) -> None:
    """Send events to URL; prints the endpoint's id and its signing secret (shown once)."""
    with command_core() as core:
        endpoint = events.add_endpoint(
            core, url, list(event_types or events.EVENTS), format=body_format, private=private
        )
    click.echo(f"{endpoint.id}\t{endpoint.secret}")
    click.echo("(the secret signs every delivery; it is not shown again)", err=True)


@webhook.command("list")
def webhook_list() -> None:
    """List endpoints: id, URL, events, format, and whether disabled."""
    with command_core() as core:
        endpoints = events.list_endpoints(core)
    for endpoint in endpoints:
        state = "disabled" if endpoint.disabled else ("failing" if endpoint.failing_since else "ok")
        flags = f"{endpoint.format}{' private' if endpoint.private else ''}"
        click.echo(f"{endpoint.id}\t{endpoint.url}\t{','.join(endpoint.events)}\t{flags}\t{state}")


@webhook.command("remove")
@click.argument("endpoint_id")
def webhook_remove(endpoint_id: str) -> None:
    """Stop sending to ENDPOINT_ID and forget its deliveries."""
    with command_core() as core:
        events.remove_endpoint(core, endpoint_id)
    click.echo(f"removed {endpoint_id}")


@main.group()
def notify() -> None:
    """Moderators' mail: a digest of pending comments, and a message when comments surge."""


def _address(_ctx: Any, _param: Any, value: str) -> str:
    # The console's pattern too, so whatever the CLI subscribes the console can unsubscribe.
    if len(value.strip()) > 254 or re.match(EMAIL_PATTERN, value.strip()) is None:
        raise click.BadParameter(f"{value!r} is not a mail address")
    return value.strip()


@notify.command("subscribe")
@click.argument("email", callback=_address)
def notify_subscribe(email: str) -> None:
    """Mail EMAIL the digests and surge alerts."""
    with command_core() as core:
        added = mail.subscribe(core, email)
    click.echo(f"subscribed {email}" if added else f"{email} was already subscribed")


@notify.command("unsubscribe")
@click.argument("email", callback=_address)
def notify_unsubscribe(email: str) -> None:
    """Stop mailing EMAIL."""
    with command_core() as core:
        if not mail.unsubscribe(core, email):
            raise click.ClickException(f"{email} is not subscribed")
    click.echo(f"unsubscribed {email}")


@notify.command("list")
def notify_list() -> None:
    """List subscribed addresses."""
    with command_core() as core:
        for address in mail.subscribers(core):
            click.echo(address)


@main.group()
def blocklist() -> None:
    """Words, link domains, emails and IP digests whose comments are held or rejected."""


@blocklist.command("add")
@click.argument("kind", type=click.Choice(spam.RULE_KINDS))
@click.argument("value")
@click.option("--action", type=click.Choice(spam.RULE_ACTIONS), default="hold", show_default=True)
def blocklist_add(kind: str, value: str, action: str) -> None:
    """Hold or reject comments matching VALUE (an email is stored only as its digest)."""
    with command_core() as core:
        try:
            rule = spam.add_rule(core, kind, value, action, moderator="cli")
        except YaynayError as refusal:
            raise click.BadParameter(refusal.message, param_hint="VALUE") from refusal
    click.echo(f"{rule.id}\t{rule.kind}\t{rule.value}\t{rule.action}")


@blocklist.command("list")
def blocklist_list() -> None:
    """List the rules: id, kind, value (an email's digest), action, when and by whom."""
    with command_core() as core:
        rules = spam.list_rules(core)
    for rule in rules:
        click.echo(f"{rule.id}\t{rule.kind}\t{rule.value}\t{rule.action}\t{_when(rule.created_at)}\t{rule.created_by}")


@blocklist.command("remove")
@click.argument("rule_id")
def blocklist_remove(rule_id: str) -> None:
    """Delete the rule RULE_ID."""
    with command_core() as core:
        try:
            spam.remove_rule(core, rule_id)
        except YaynayError as refusal:
            raise click.ClickException(refusal.message) from refusal
    click.echo(f"removed {rule_id}")


if __name__ == "__main__":
    main()
