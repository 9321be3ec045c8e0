"""What the service refuses, as plain exceptions: the core and the store raise them.

They know nothing of HTTP. ``service/api/errors.py`` maps each to a status code, the
one JSON error shape, the HTML pages' messages and the rate-limit headers; the CLI
prints their message.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.ratelimit import RateState


class YaynayError(Exception):
    """A refusal with a message for people and, when fields are to blame, each field's problems."""

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class NotFound(YaynayError):
    """The poll, thread or comment named does not exist."""


class PollNotFound(NotFound):
    def __init__(self, poll_id: str):
        super().__init__(f"No poll with id {poll_id!r}.")
        self.poll_id = poll_id


class CommentNotFound(NotFound):
    def __init__(self, comment_id: str):
        super().__init__(f"No comment with id {comment_id!r}.")
        self.comment_id = comment_id


class TokenNotFound(NotFound):
    def __init__(self, name: str):
        super().__init__(f"No token named {name!r}.")
        self.name = name


class WebhookNotFound(NotFound):
    def __init__(self, endpoint_id: str, message_id: str | None = None):
        if message_id is None:
            super().__init__(f"No webhook endpoint with id {endpoint_id!r}.")
        else:
            super().__init__(f"No delivery {message_id!r} of webhook {endpoint_id!r} (kept 3 days).")
        self.endpoint_id = endpoint_id


class SpamToolNotFound(NotFound):
    """No blocklist rule or ban with that id."""

    def __init__(self, what: str, item_id: str):
        super().__init__(f"No {what} with id {item_id!r}.")
        self.item_id = item_id


class SubscriberNotFound(NotFound):
    """The address is not subscribed to the moderators' mail."""

    def __init__(self, address: str):
        super().__init__(f"{address!r} is not subscribed to the moderators' mail.")
        self.address = address


class Conflict(YaynayError):
    """The request is well formed, but the state of what it names refuses it."""


class NothingToBan(Conflict):
    """A ban that names neither the IP nor the email, or the email of a comment sent without one."""


class PollClosed(Conflict):
    def __init__(self, poll_id: str):
        super().__init__(f"Poll {poll_id!r} is closed.")


class VoteChangeNotAllowed(Conflict):
    def __init__(self, poll_id: str, current_choice: str):
        super().__init__(
            f"Poll {poll_id!r} does not allow changing a vote; yours stays {current_choice!r}.",
            fields={"choice": [f"Already voted {current_choice!r}."]},
        )


class TokenNameTaken(Conflict):
    """A token with that name exists: names sign the log, so each is one holder's."""

    def __init__(self, name: str):
        super().__init__(f"a token named {name!r} exists; revoke it first", fields={"name": ["In use."]})


class PollLimitReached(Conflict):
    """A vote would create a poll, but the site holds as many polls as votes may create (MAX_POLLS)."""


@dataclass(frozen=True)
class Standing:
    """The decision that stands on a comment: its status, who decided, when (epoch s) and why."""

    status: str
    decided_by: str | None
    decided_at: float | None
    reason: str | None


class DecisionConflict(Conflict):
    """Another decision stands: the comment is no longer in the status the moderator saw."""

    def __init__(self, comment_id: str, standing: Standing):
        who = f" by {standing.decided_by}" if standing.decided_by else ""
        super().__init__(f"Comment {comment_id!r} is already {standing.status}{who}.")
        self.comment_id = comment_id
        self.standing = standing


class WebhookUrlRefused(Conflict):
    """A webhook URL that does not resolve, or resolves to a local address that the settings refuse."""

    def __init__(self, message: str):
        super().__init__(message, fields={"url": [message]})


class InvalidInput(YaynayError):
    """Fields are well formed but refer to something that is not there (``fields`` names them)."""


class InvalidParent(Conflict):
    """A reply names a comment that is not (or not yet) a published comment of the same thread."""

    def __init__(self, parent_id: str):
        super().__init__(
            "The comment replied to is not a published comment of this thread.",
            fields={"parent_id": [f"No published comment {parent_id!r} in this thread."]},
        )


class RateLimited(YaynayError):
    """Over a limit; ``rate`` says which, and when it resets."""

    def __init__(self, message: str, *, rate: RateState):
        super().__init__(message)
        self.rate = rate


class Unauthorized(YaynayError):
    """No credentials, or wrong ones."""

    def __init__(self, message: str = "A valid bearer token is required."):
        super().__init__(message)


class Forbidden(YaynayError):
    """Credentials that are valid but do not allow this."""


class EditRefused(Forbidden):
    """The edit token is missing or is not the one handed out with the comment."""

    def __init__(self) -> None:
        super().__init__("Only the comment's author may change it: the edit token is missing or wrong.")


class EditWindowClosed(Conflict):
    """A reader's comment can no longer be edited (it may still be deleted)."""

    def __init__(self) -> None:
        super().__init__("This comment can no longer be edited; it may still be deleted.")


class StoreUnavailable(YaynayError):
    """Redis did not answer in time: try again shortly."""


class TooManyStreams(YaynayError):
    """Over the connection budget of live streams (per client or per worker); retry after ``retry_after`` s."""

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after
