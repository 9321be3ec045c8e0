"""The ``yaynay`` command: run the service, manage polls, tokens and privacy requests.

Every command calls the same core functions as the API (``service/core/``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from marshmallow import ValidationError

from service.core import Core, polls, privacy, tokens
from service.core.demo import ensure_demo_poll
from service.errors import YaynayError
from service.schemas import (
    POLL_ID_PATTERN,
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
    """Serve under gunicorn, with an embedded Redis when YAYNAY_REDIS_URL is not set."""
    settings = _settings()
    bind = bind or settings["BIND"]
    env = dict(os.environ, YAYNAY_BIND=bind)
    if settings["REDIS_EMBEDDED"]:
        click.echo(f"yaynay: embedded Redis in {embedded_redis_dir(settings)}")
    with redis_for(settings):
        if settings["DEMO"]:
            with command_core() as core:
                ensure_demo_poll(core)
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", gunicorn_config, "service.wsgi:app"], env=env
        )
        signal.signal(signal.SIGTERM, lambda *_: gunicorn.terminate())
        click.echo(f"yaynay: serving on http://{bind}")
        while True:
            try:
                code = gunicorn.wait()
                break
            except KeyboardInterrupt:  # gunicorn got the same Ctrl-C; wait for it to finish
                continue
    sys.exit(code)


@main.group()
def poll() -> None:
    """Create and inspect polls."""


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
    if not re.match(POLL_ID_PATTERN, poll_id):
        raise click.BadParameter("1-64 characters of a-z, 0-9 and '-'.", param_hint="POLL_ID")
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
    """Print POLL_ID with its tally, and check the tally against the voter records."""
    with command_core() as core:
        check = polls.check_tally(core, poll_id)
        click.echo(json.dumps(PollSchema().dump(present_poll(check.poll, core.now())), sort_keys=True))
        click.echo(f"voter records: {check.records} ({'match' if check.matches else 'DO NOT MATCH'} the tally)")


@main.group()
def token() -> None:
    """Bearer tokens for moderators and admins."""


@token.command("create")
@click.option("--name", required=True, help="Who holds the token; shown in the audit log.")
@click.option("--role", type=click.Choice(tokens.ROLES), default=tokens.MODERATOR, show_default=True)
def token_create(name: str, role: str) -> None:
    """Create a token and print it once; only its hash is stored."""
    if not tokens.TOKEN_NAME.match(name):
        raise click.BadParameter("1-64 characters of letters, digits and _ . @ -", param_hint="--name")
    if name in tokens.RESERVED_NAMES:
        raise click.BadParameter(f"{name!r} names yaynay's own actions in the log; choose another", param_hint="--name")
    with command_core() as core:
        created = tokens.create_token(core, name, role)
    click.echo(created)
    click.echo(f"(the {role} token of {name}; it is not shown again)", err=True)


@token.command("list")
def token_list() -> None:
    """List token holders, their roles and when each token was made."""
    with command_core() as core:
        holders = tokens.list_tokens(core)
    for holder in holders:
        made = dt.datetime.fromtimestamp(holder.created_at or 0, dt.timezone.utc).isoformat(timespec="seconds")
        click.echo(f"{holder.name}\t{holder.role}\t{made}")


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
