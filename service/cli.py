"""The ``yaynay`` command: run the service, manage polls."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
from marshmallow import ValidationError

from service.api.polls import present
from service.demo import ensure_demo_poll
from service.extensions import store
from service.schemas import POLL_ID_PATTERN, PollSchema, PollUpdateSchema
from service.settings import ConfigError, embedded_redis_dir, load_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GUNICORN_CONFIG = PROJECT_ROOT / "config" / "gunicorn.conf.py"
PRIVACY_MODERATOR = "privacy-request"
# The bootstrap admin token and privacy erasures sign the log with these names.
RESERVED_TOKEN_NAMES = {"admin", PRIVACY_MODERATOR}


@contextlib.contextmanager
def redis_for(settings: dict):
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
def app_context():
    """An app context on the configured (or embedded) Redis."""
    from service import create_app

    settings = _settings()
    with redis_for(settings):
        app = create_app()
        with app.app_context():
            yield app


def _settings() -> dict:
    try:
        return load_settings()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


@click.group()
def main():
    """yaynay: reader YAY/NAY polls and comments."""


@main.command()
@click.option("--config", "gunicorn_config", type=click.Path(exists=True, dir_okay=False),
              default=str(DEFAULT_GUNICORN_CONFIG), show_default=True, help="gunicorn settings file.")
@click.option("--bind", envvar="YAYNAY_BIND", default="127.0.0.1:8000", show_default=True)
def serve(gunicorn_config: str, bind: str):
    """Serve under gunicorn, with an embedded Redis when YAYNAY_REDIS_URL is not set."""
    settings = _settings()
    env = dict(os.environ, YAYNAY_BIND=bind)
    if settings["REDIS_EMBEDDED"]:
        click.echo(f"yaynay: embedded Redis in {embedded_redis_dir(settings)}")
    with redis_for(settings):
        if settings["DEMO"]:
            with app_context():
                ensure_demo_poll(store.polls, time.time())
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", gunicorn_config, "service.wsgi:app"], env=env)
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
def poll():
    """Create and inspect polls."""


@poll.command("create")
@click.argument("poll_id")
@click.argument("question")
@click.option("--closes-at", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"]),
              help="When voting stops, ISO 8601 (UTC unless an offset is given).")
@click.option("--no-change", is_flag=True, help="Readers may not change their vote.")
def poll_create(poll_id: str, question: str, closes_at, no_change: bool):
    """Create or update POLL_ID asking QUESTION, keeping any tally it has."""
    if not re.match(POLL_ID_PATTERN, poll_id):
        raise click.BadParameter("1-64 characters of a-z, 0-9 and '-'.", param_hint="POLL_ID")
    try:
        PollUpdateSchema().load({"question": question})
    except ValidationError as error:
        raise click.BadParameter("; ".join(error.messages["question"]), param_hint="QUESTION") from None
    if closes_at is not None and closes_at.tzinfo is None:
        closes_at = closes_at.replace(tzinfo=dt.timezone.utc)
    with app_context():
        now = time.time()
        poll_, created = store.polls.save(
            poll_id, question=question.strip(), closes_at=closes_at.timestamp() if closes_at else None,
            allow_change=not no_change, now=now)
        click.echo(("created " if created else "updated ") + json.dumps(
            PollSchema().dump(present(poll_, now)), sort_keys=True))


@poll.command("show")
@click.argument("poll_id")
def poll_show(poll_id: str):
    """Print POLL_ID with its tally, and check the tally against the voter records."""
    with app_context():
        found = store.polls.get(poll_id)
        if found is None:
            raise click.ClickException(f"no poll {poll_id!r}")
        click.echo(json.dumps(PollSchema().dump(present(found, time.time())), sort_keys=True))
        records = store.polls.count_voter_records(poll_id)
        consistent = records == {"yay": found.yay, "nay": found.nay}
        click.echo(f"voter records: {records} ({'match' if consistent else 'DO NOT MATCH'} the tally)")


@main.group()
def token():
    """Bearer tokens for moderators and admins."""


@token.command("create")
@click.option("--name", required=True, help="Who holds the token; shown in the audit log.")
@click.option("--role", type=click.Choice(["moderator", "admin"]), default="moderator", show_default=True)
def token_create(name: str, role: str):
    """Create a token and print it once; only its hash is stored."""
    if not re.match(r"^[A-Za-z0-9_.@-]{1,64}$", name):
        raise click.BadParameter("1-64 characters of letters, digits and _ . @ -", param_hint="--name")
    if name in RESERVED_TOKEN_NAMES:
        raise click.BadParameter(f"{name!r} names yaynay's own actions in the log; choose another",
                                 param_hint="--name")
    with app_context():
        created = store.tokens.create(name, role, now=time.time())
    if created is None:
        raise click.ClickException(f"a token named {name!r} exists; revoke it first")
    click.echo(created)
    click.echo(f"(the {role} token of {name}; it is not shown again)", err=True)


@token.command("list")
def token_list():
    """List token holders, their roles and when each token was made."""
    with app_context():
        holders = store.tokens.all()
    for holder in holders:
        made = dt.datetime.fromtimestamp(holder.created_at, dt.timezone.utc).isoformat(timespec="seconds")
        click.echo(f"{holder.name}\t{holder.role}\t{made}")


@token.command("revoke")
@click.argument("name")
def token_revoke(name: str):
    """Revoke NAME's token at once."""
    with app_context():
        if not store.tokens.revoke(name):
            raise click.ClickException(f"no token named {name!r}")
    click.echo(f"revoked {name}")


@main.group()
def privacy():
    """Find or erase what one person submitted."""


@privacy.command("export")
@click.option("--email", required=True)
def privacy_export(email: str):
    """Print every stored comment submitted with EMAIL, as JSON."""
    from service.api.moderation import present_for_moderator
    from service.identity import email_digest
    from service.schemas import ModerationCommentSchema

    with app_context() as app:
        comments = store.comments.by_email(email_digest(app.config["SECRET_KEY"], email))
        click.echo(json.dumps({"email": email, "comments": ModerationCommentSchema(many=True).dump(
            [present_for_moderator(comment) for comment in comments])}, indent=2, sort_keys=True))


@privacy.command("delete")
@click.option("--email", required=True)
@click.confirmation_option(prompt="Delete every comment submitted with this address?")
def privacy_delete(email: str):
    """Delete every comment submitted with EMAIL, published copies included, and say how many."""
    from service.identity import email_digest

    with app_context() as app:
        removed = store.comments.delete_by_email(email_digest(app.config["SECRET_KEY"], email),
                                                 moderator=PRIVACY_MODERATOR, now=time.time())
    click.echo(f"deleted {removed} comment{'s' if removed != 1 else ''} submitted with {email}")
