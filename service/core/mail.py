"""Mail to moderators: a digest of new pending comments every DIGEST_MINUTES, and a message
when a comment surge starts, sent by ``yaynay worker`` through SMTP (``SMTP_URL``)."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

from service import metrics
from service.core import Core
from service.core.events import release_schedule, schedule_once, worker_core

log = logging.getLogger(__name__)

# Comment ids listed in one digest; the count says how many more wait.
DIGEST_LISTED = 50


def subscribe(core: Core, address: str) -> bool:
    """Send ``address`` the digest and surge mail; False when already subscribed in any casing
    (the address stays as first given)."""
    return core.store.webhooks.subscribe(address.strip())


def unsubscribe(core: Core, address: str) -> bool:
    """Stop mailing ``address`` in every casing; False when it was not subscribed."""
    return core.store.webhooks.unsubscribe(address.strip())


def subscribers(core: Core) -> list[str]:
    """Every subscribed address, one per mailbox: what each mail goes to, so none gets two."""
    return core.store.webhooks.subscribers()


def console_link(core: Core) -> str:
    """The moderators' console, absolute when PUBLIC_URL is set."""
    return f"{core.policy.notifying.public_url}/moderate"


def send(core: Core, subject: str, text: str, recipients: list[str]) -> None:
    """Send one plain-text mail through SMTP_URL: ``smtps://`` is TLS from the start;
    ``smtp://`` upgrades with STARTTLS when the server offers it; user and password log in."""
    url = urlsplit(core.policy.notifying.smtp_url)
    message = EmailMessage()
    message["From"] = core.policy.notifying.smtp_from
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message.set_content(text)
    connection: Any
    if url.scheme == "smtps":
        connection = smtplib.SMTP_SSL(url.hostname or "localhost", url.port or 465, timeout=30)
    else:
        connection = smtplib.SMTP(url.hostname or "localhost", url.port or 25, timeout=30)
    with connection:
        if url.scheme != "smtps":
            connection.ehlo()
            if connection.has_extn("starttls"):
                connection.starttls()
                connection.ehlo()
        if url.username:
            connection.login(unquote(url.username), unquote(url.password or ""))
        connection.send_message(message)


def _mail(core: Core, kind: str, subject: str, text: str) -> bool:
    recipients = subscribers(core)
    if not recipients or not core.policy.notifying.smtp_url:
        return False
    try:
        send(core, subject, text, recipients)
    except (OSError, smtplib.SMTPException) as failure:
        metrics.MAIL_SENT.labels(kind, "failed").inc()
        log.warning("%s mail to moderators failed: %s", kind, failure)
        return False
    metrics.MAIL_SENT.labels(kind, "sent").inc()
    return True


def schedule_digest(core: Core) -> bool:
    """Schedule the next digest DIGEST_MINUTES from now unless one is already scheduled
    (a guard key: however many workers start, one digest is pending); True when scheduled."""
    return schedule_once(core, "digest", send_digest, core.policy.notifying.digest_minutes * 60)


def digest(core: Core) -> tuple[str, str] | None:
    """The subject and text of a digest of comments that became pending since the last one, or None."""
    now = core.now()
    since = core.store.webhooks.digest_since(now)
    if since is None:
        since = now - core.policy.notifying.digest_minutes * 60
    ids, count = core.store.webhooks.pending_since(since, DIGEST_LISTED)
    if not count:
        return None
    lines = [f"{count} new comment{'s' if count != 1 else ''} await moderation:", ""]
    lines += [f"  {comment_id}" for comment_id in ids]
    if count > len(ids):
        lines.append(f"  ... and {count - len(ids)} more")
    lines += ["", f"Moderate them at {console_link(core)}"]
    return f"[yaynay] {count} comment{'s' if count != 1 else ''} to moderate", "\n".join(lines)


def send_digest() -> None:
    """RQ job: mail the digest (if anything is new), then schedule the next one."""
    core = worker_core()
    composed = digest(core)
    if composed is not None:
        _mail(core, "digest", *composed)
    release_schedule(core, "digest")
    schedule_digest(core)


def send_surge_mail(surge: dict[str, Any]) -> None:
    """RQ job: tell moderators at once that comments surge this hour."""
    core = worker_core()
    text = (
        f"{surge['submitted_this_hour']} comments were submitted this hour, above the surge level "
        f"of {surge['level']}.\n\nModerate them at {console_link(core)}\n"
    )
    _mail(core, "surge", "[yaynay] comment surge", text)


def schedule_periodic_jobs(core: Core) -> None:
    """Schedule the digest and the closing sweep, each unless it is scheduled already.

    A worker does this when it starts and at every RQ maintenance (10 minutes): each job
    schedules its next run, but one that failed while Redis was away could not, and once
    its guard runs out this starts the chain again.
    """
    from service.core.polls import schedule_closing_sweep

    schedule_digest(core)
    # At once: closings that fell due while no sweep ran are announced without waiting.
    schedule_closing_sweep(core, delay=0)


def run_worker(core: Core, *, burst: bool = False, name: str | None = None) -> bool:
    """Run background jobs with ``core`` until stopped (``burst``: until none is left)."""
    from service.core.events import set_worker_core

    set_worker_core(core)
    return core.store.jobs.work(burst=burst, name=name, every_maintenance=lambda: schedule_periodic_jobs(core))
