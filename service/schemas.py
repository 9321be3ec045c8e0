"""Marshmallow schemas: every input the API accepts and every output it sends.

The presenters at the end turn the core's objects into what the output schemas dump.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, post_load, pre_load, validate, validates

from service.core.comments import Comment
from service.core.events import EVENTS as WEBHOOK_EVENTS
from service.core.events import FORMATS as WEBHOOK_FORMATS
from service.core.events import Attempt, Endpoint
from service.core.moderation import Decision, LogEntry
from service.core.policy import CommentLengths
from service.core.polls import Poll
from service.core.spam import RULE_ACTIONS, RULE_KINDS, Ban, IntegrityReport, Rule
from service.core.threads import Context, ThreadSummary
from service.core.tokens import ROLES, TOKEN_NAME, TokenHolder
from service.store.comments import STATUSES

POLL_ID_PATTERN = r"^[a-z0-9-]{1,64}$"
VOTER_TOKEN_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"
TOKEN_NAME_PATTERN = TOKEN_NAME.pattern
MAX_BATCH_IDS = 100


_LONE_SURROGATES = re.compile(r"[\ud800-\udfff]")
# Blank space as the document's (ECMAScript) patterns mean \s, spelled out: Python's \s also
# takes \x1c-\x1f and \x85, so a pattern using it would refuse what the document allows.
BLANK = r" \t\n\v\f\r\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
BLANK_CHARACTERS = "".join(
    chr(code)
    for code in (*b" \t\n\v\f\r", 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF)
)
# Text with at least one character that is not blank space (matched from the start, it
# means the same as the document's pattern, which may match anywhere).
NOT_BLANK = rf"[\s\S]*[^{BLANK}]"
# Comment text: at least one character left once blank space and control characters go.
HAS_TEXT = rf"[\s\S]*[^{BLANK}\x00-\x1f\x7f]"
# A character of an address: no control character, no space.
_URL_CHARACTER = r"[^\x00-\x20\x7f]"


@functools.cache
def _server_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\$$", r"\\Z", pattern).replace("$)", r"\Z)"))


def matches(pattern: str, value: str) -> bool:
    """Whether ``value`` matches ``pattern`` as the document (JSON Schema) means it: Python's ``$``
    also matches before a final line break, so it is read as ``\\Z`` here."""
    return _server_regex(pattern).match(value) is not None


class Pattern(validate.Regexp):
    """A regular expression that means on the server what it means in the document, which
    shows it as written (see ``matches``)."""

    def __call__(self, value):
        if not matches(str(self.regex.pattern), value):
            raise ValidationError(self._format_error(value))
        return value


class StrictSchema(Schema):
    """Rejects unknown fields, naming them; half an emoji (a lone surrogate) becomes U+FFFD."""

    class Meta:
        unknown = RAISE

    @pre_load
    def replace_lone_surrogates(self, data, **kwargs):
        # Valid JSON may carry them, but no UTF-8 encoder (nor Redis) takes them.
        if isinstance(data, dict):
            return {
                key: _LONE_SURROGATES.sub("\ufffd", value) if isinstance(value, str) else value
                for key, value in data.items()
            }
        return data


class StrictBoolean(fields.Boolean):
    """JSON true or false only: 0, 1 and "yes" are refused, as the document's type says."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class StandingSchema(Schema):
    status = fields.String()
    decided_by = fields.String(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    reason = fields.String(allow_none=True)


class ErrorSchema(Schema):
    """The one error shape."""

    code = fields.Integer(required=True)
    status = fields.String(required=True)
    message = fields.String(required=True)
    errors = fields.Dict(metadata={"description": 'Fields at fault by location, e.g. {"json": {"choice": [...]}}'})
    standing = fields.Nested(
        StandingSchema, metadata={"description": "409 to a moderation decision: the decision that stands."}
    )


class TallySchema(Schema):
    yay = fields.Integer()
    nay = fields.Integer()
    total = fields.Integer()


class PercentSchema(Schema):
    yay = fields.Integer(metadata={"description": "Whole percent; yay + nay = 100 once anyone voted."})
    nay = fields.Integer()


class PollSchema(Schema):
    """A poll as readers see it."""

    id = fields.String()
    question = fields.String()
    state = fields.String(metadata={"enum": ["open", "closed"]})
    closes_at = fields.DateTime(allow_none=True)
    allow_change = fields.Boolean()
    tally = fields.Nested(TallySchema)
    percent = fields.Nested(PercentSchema)


class PollListSchema(Schema):
    polls = fields.List(fields.Nested(PollSchema))
    missing = fields.List(fields.String(), metadata={"description": "Requested ids with no poll."})


_ID = POLL_ID_PATTERN.strip("^$")
# 1 to MAX_BATCH_IDS ids, comma-separated: the document states exactly what the server takes.
ID_LIST_PATTERN = rf"^{_ID}(,{_ID}){{0,{MAX_BATCH_IDS - 1}}}$"


def _id_list(value: str) -> None:
    """Refuse what ID_LIST_PATTERN refuses, saying which ids are wrong."""
    if matches(ID_LIST_PATTERN, value):
        return
    bad = [one for one in value.split(",") if not matches(POLL_ID_PATTERN, one)]
    if bad:
        raise ValidationError(f"Not ids: {', '.join(repr(one) for one in bad[:5])} (1-64 of a-z, 0-9 and -).")
    raise ValidationError(f"At most {MAX_BATCH_IDS} ids.")


class PollIdsQuerySchema(StrictSchema):
    ids = fields.String(
        required=True,
        validate=_id_list,
        metadata={
            "description": f"Comma-separated ids, at most {MAX_BATCH_IDS}.",
            "example": "mini-backpacks,crocs",
            "pattern": ID_LIST_PATTERN,
        },
    )

    @post_load
    def split_ids(self, data, **kwargs):
        return {"ids": list(dict.fromkeys(data["ids"].split(",")))}


class PollUpdateSchema(StrictSchema):
    """What an admin sets on a poll."""

    question = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=300), Pattern(NOT_BLANK, error="Must not be blank.")],
    )
    closes_at = fields.AwareDateTime(
        load_default=None,
        allow_none=True,
        default_timezone=dt.timezone.utc,
        metadata={"description": "When voting stops (ISO 8601); null for never."},
    )
    allow_change = StrictBoolean(load_default=True)


class VoteSchema(StrictSchema):
    choice = fields.String(required=True, validate=validate.OneOf(["yay", "nay"]))
    voter = fields.String(
        required=True,
        validate=Pattern(VOTER_TOKEN_PATTERN, error="Must be 16-64 characters of A-Z, a-z, 0-9, '_' and '-'."),
        metadata={"description": "A random token the widget keeps in localStorage."},
    )


class VoteResultSchema(Schema):
    poll_id = fields.String()
    vote = fields.String(metadata={"enum": ["yay", "nay"]})
    changed = fields.Boolean(metadata={"description": "True when the vote moved from the other choice."})
    tally = fields.Nested(TallySchema)
    percent = fields.Nested(PercentSchema)


class HealthSchema(Schema):
    status = fields.String()


# -- comments ---------------------------------------------------------------------

COMMENT_ID_PATTERN = r"^[a-z0-9-]{1,64}\.[a-z2-7]{8}$"
SPAM_TOOL_ID_PATTERN = r"^[0-9a-f]{12}$"
# An http(s) address of a host name (with a top-level domain) or localhost, as the document states it.
WEBSITE_PATTERN = (
    r"^https?://(localhost|([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24})(:[0-9]{1,5})?(/"
    + _URL_CHARACTER
    + "*)?$"
)
RETURN_TO_PATTERN = r"^https?://[^\x00-\x20\x7f/?#]+([/?#]" + _URL_CHARACTER + "*)?$"
EMAIL_PATTERN = r"^[A-Za-z0-9._%+-]{1,64}@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}$"


def _or_empty(pattern: str) -> str:
    """``pattern`` that also matches the empty string (an empty form field means none)."""
    return f"^({pattern.strip('^$')})?$"


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _plain_text(value: str) -> str:
    """Line breaks as \\n, no control characters, no surrounding blank space."""
    return _CONTROL_CHARACTERS.sub("", value.replace("\r\n", "\n").replace("\r", "\n")).strip(BLANK_CHARACTERS)


# What the document shows when no settings are given; the app documents its configured lengths.
DEFAULT_LENGTHS = CommentLengths(author=80, body=5000)


class CommentSubmitSchema(StrictSchema):
    """A reader's comment, from the widget (JSON) or a plain HTML form.

    The length limits and the honeypot's field name are settings, given when the
    schema is made (``api/openapi.py`` writes the same lengths into the document).
    """

    author = fields.String(
        required=True,
        metadata={
            "minLength": 1,
            "maxLength": DEFAULT_LENGTHS.author,
            "pattern": HAS_TEXT,
            "description": "The name shown with the comment.",
        },
    )
    email = fields.String(
        validate=[
            validate.Length(max=254),
            Pattern(_or_empty(EMAIL_PATTERN), error="Not a valid email address."),
        ],
        metadata={"description": "Never published; empty means none."},
    )
    website = fields.String(
        validate=[
            validate.Length(max=300),
            Pattern(_or_empty(WEBSITE_PATTERN), error="Not an http(s) address."),
        ],
        metadata={"description": "An http(s) address shown as the author's link; empty means none."},
    )
    body = fields.String(
        required=True,
        metadata={
            "minLength": 1,
            "maxLength": DEFAULT_LENGTHS.body,
            "pattern": HAS_TEXT,
            "description": "Plain text; line breaks are kept.",
        },
    )
    parent_id = fields.String(
        validate=Pattern(_or_empty(COMMENT_ID_PATTERN), error="Not a comment id."),
        metadata={"description": "The published comment this replies to; empty means none."},
    )
    voter = fields.String(
        validate=Pattern(
            _or_empty(VOTER_TOKEN_PATTERN), error="Must be 16-64 characters of A-Z, a-z, 0-9, '_' and '-'."
        ),
        metadata={"description": "The voting token, so the comment shows its author's YAY or NAY."},
    )
    honeypot = fields.String(
        load_default="",
        metadata={"description": "Leave empty. Sent under the name set by HONEYPOT_FIELD (default 'subject')."},
    )
    return_to = fields.String(
        validate=[
            validate.Length(max=2000),
            Pattern(_or_empty(RETURN_TO_PATTERN), error="Not an http(s) page."),
        ],
        metadata={"description": "Form posts: the page to return to; its origin must be allowed."},
    )
    page_url = fields.String(
        validate=[
            validate.Length(max=2000),
            Pattern(_or_empty(RETURN_TO_PATTERN), error="Not an http(s) page."),
        ],
        metadata={
            "description": "The article the comment was written on; the thread's first one is kept for "
            "moderators, when its origin is allowed."
        },
    )

    def __init__(self, *, lengths: CommentLengths = DEFAULT_LENGTHS, honeypot_field: str = "subject", **kwargs: Any):
        super().__init__(**kwargs)
        self.lengths = lengths
        self.honeypot_field = honeypot_field

    @pre_load
    def tidy(self, data, **kwargs):
        """Empty optional fields count as absent; the honeypot arrives under its configured name."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        honeypot_name = self.honeypot_field
        if honeypot_name in data and honeypot_name != "honeypot":
            data["honeypot"] = data.pop(honeypot_name)
        for name in ("email", "website", "parent_id", "voter", "return_to", "page_url"):
            if data.get(name) == "":
                data.pop(name)
        # Lengths count what was sent, as the document says; the text is tidied after.
        too_long = {}
        for name, most in (("author", self.lengths.author), ("body", self.lengths.body)):
            if isinstance(data.get(name), str):
                if len(data[name]) > most:
                    too_long[name] = [f"Must be at most {most} characters."]
                data[name] = _plain_text(data[name])
        if too_long:
            raise ValidationError(too_long)
        return data

    @validates("author")
    def author_given(self, value, **kwargs):
        _check_not_empty(value)

    @validates("body")
    def body_given(self, value, **kwargs):
        _check_not_empty(value)


class CommentFormSchema(CommentSubmitSchema):
    """A comment from a plain HTML form: the publisher's form may carry fields of its own (a
    submit button's name, say), which are ignored, where JSON's unknown fields are refused."""

    class Meta:
        unknown = EXCLUDE


@functools.cache
def comment_submit_schema(lengths: CommentLengths, honeypot_field: str, *, form: bool = False) -> CommentSubmitSchema:
    """The schema for comments under these settings, for JSON or for a form."""
    kind = CommentFormSchema if form else CommentSubmitSchema
    return kind(lengths=lengths, honeypot_field=honeypot_field)


def _check_not_empty(value: str) -> None:
    if not value:
        raise ValidationError("Must not be empty.")


class CommentEditSchema(StrictSchema):
    """A reader's new text for their own comment (the body's limits are those of a new comment)."""

    body = fields.String(
        required=True,
        metadata={
            "minLength": 1,
            "maxLength": DEFAULT_LENGTHS.body,
            "pattern": HAS_TEXT,
            "description": "Plain text; line breaks are kept.",
        },
    )

    def __init__(self, *, lengths: CommentLengths = DEFAULT_LENGTHS, **kwargs: Any):
        super().__init__(**kwargs)
        self.lengths = lengths

    @pre_load
    def tidy(self, data, **kwargs):
        """Lengths count what was sent; the text is tidied as a new comment's is."""
        if isinstance(data, dict) and isinstance(data.get("body"), str):
            if len(data["body"]) > self.lengths.body:
                raise ValidationError({"body": [f"Must be at most {self.lengths.body} characters."]})
            data = {**data, "body": _plain_text(data["body"])}
        return data

    @validates("body")
    def body_given(self, value, **kwargs):
        _check_not_empty(value)


class EditedSchema(Schema):
    id = fields.String()
    status = fields.String(
        metadata={
            "enum": ["pending", "approved", "rejected", "spam"],
            "description": "pending: the edit waits for a moderator before it is shown again.",
        }
    )


class SubmissionSchema(Schema):
    id = fields.String()
    status = fields.String(metadata={"enum": ["pending", "approved"]})
    edit_token = fields.String(
        allow_none=True,
        metadata={
            "description": "Send it as Yaynay-Edit-Token to edit (within EDIT_WINDOW) or delete this comment. "
            "Handed out once: a retry of the same submission answers null."
        },
    )


class CommentSchema(Schema):
    """A published comment: never an email, an IP or its hash, a user agent."""

    id = fields.String()
    author = fields.String()
    website = fields.String(allow_none=True)
    body = fields.String()
    created_at = fields.DateTime()
    edited_at = fields.DateTime(allow_none=True, metadata={"description": "When its author last edited it."})
    parent_id = fields.String(allow_none=True)
    vote = fields.String(
        allow_none=True,
        metadata={"enum": ["yay", "nay", None], "description": "The author's live vote on the thread's poll."},
    )


def cursor_field(pattern: str, example: str) -> fields.String:
    """A page cursor as the previous page's ``next_cursor`` gave it; anything else is a 422."""
    return fields.String(
        load_default=None,
        validate=Pattern(pattern, error="Not a cursor of this list."),
        metadata={"description": "The previous page's next_cursor.", "example": example},
    )


class PageQuerySchema(StrictSchema):
    limit = fields.Integer(load_default=None, validate=validate.Range(min=1, max=100))


class CommentPageQuerySchema(PageQuerySchema):
    cursor = cursor_field(r"^\d{1,18}$", "50")
    sort = fields.String(
        load_default="oldest",
        validate=validate.OneOf(["oldest", "newest"]),
        metadata={"description": "oldest first (the default) or newest first; a cursor keeps its order."},
    )


class CommentPageSchema(Schema):
    count = fields.Integer(metadata={"description": "Approved comments in the thread."})
    comments = fields.List(fields.Nested(CommentSchema))
    next_cursor = fields.String(allow_none=True)


class ThreadIdsQuerySchema(PollIdsQuerySchema):
    pass


class ThreadCountSchema(Schema):
    id = fields.String()
    count = fields.Integer()


class ThreadCountsSchema(Schema):
    threads = fields.List(fields.Nested(ThreadCountSchema))


# -- moderation -------------------------------------------------------------------


class SignalsSchema(Schema):
    links = fields.Integer(metadata={"description": "Links in the body."})
    same_text_before = fields.Integer(metadata={"description": "Other submissions of the same text (30 days)."})
    recent_from_ip = fields.Integer(metadata={"description": "Submissions from the same hashed IP that hour."})
    surge = fields.Boolean(metadata={"description": "Submitted while comments site-wide exceeded the surge level."})
    held_reason = fields.String(
        allow_none=True,
        metadata={
            "description": "Why the spam tools held or rejected it: 'blocklist <kind>: <value>', 'banned', "
            "'content check: spam', 'content check failed' or 'surge'; null when they did not."
        },
    )


class ParentSchema(Schema):
    author = fields.String()
    body = fields.String()
    status = fields.String(metadata={"enum": list(STATUSES)})


class ModerationCommentSchema(Schema):
    id = fields.String()
    thread = fields.String()
    page_url = fields.String(allow_none=True, metadata={"description": "The thread's article, when recorded."})
    status = fields.String(metadata={"enum": list(STATUSES)})
    author = fields.String()
    email = fields.String(allow_none=True)
    website = fields.String(allow_none=True)
    body = fields.String()
    parent_id = fields.String(allow_none=True)
    vote = fields.String(allow_none=True)
    submitted_at = fields.DateTime()
    ip_hash = fields.String()
    user_agent = fields.String()
    signals = fields.Nested(SignalsSchema)
    decided_by = fields.String(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    reason = fields.String(allow_none=True)
    parent = fields.Nested(
        ParentSchema, allow_none=True, metadata={"description": "The comment this one replies to, when stored."}
    )


class QueueQuerySchema(PageQuerySchema):
    # Across threads "<microseconds>:<comment id>"; within one thread, a sequence number.
    cursor = cursor_field(r"^\d{1,18}(:[a-z0-9-]{1,64}\.[a-z2-7]{8})?$", "1795696216461410:mini-backpacks.k3x9a2mq")
    status = fields.String(load_default="pending", validate=validate.OneOf(STATUSES))
    thread = fields.String(load_default=None, validate=Pattern(POLL_ID_PATTERN, error="Not a thread id."))


class SurgeSchema(Schema):
    active = fields.Boolean()
    this_hour = fields.Integer()
    ceiling = fields.Integer()


class QueuePageSchema(Schema):
    comments = fields.List(fields.Nested(ModerationCommentSchema))
    next_cursor = fields.String(allow_none=True)
    surge = fields.Nested(SurgeSchema)


class DecisionSchema(StrictSchema):
    action = fields.String(required=True, validate=validate.OneOf(["approve", "reject", "spam", "delete"]))
    reason = fields.String(load_default="", validate=validate.Length(max=500))
    seen = fields.String(
        load_default=None,
        data_key="from",
        validate=validate.OneOf(STATUSES),
        metadata={"description": "The status you saw; required to re-decide a comment that is no longer pending."},
    )


class BulkDecisionItemSchema(DecisionSchema):
    id = fields.String(required=True, validate=Pattern(COMMENT_ID_PATTERN, error="Not a comment id."))


class BulkDecisionSchema(StrictSchema):
    decisions = fields.List(
        fields.Nested(BulkDecisionItemSchema), required=True, validate=validate.Length(min=1, max=100)
    )


class DecisionResultSchema(Schema):
    id = fields.String()
    action = fields.String()
    status = fields.String(metadata={"enum": ["approved", "rejected", "spam", "deleted"]})
    previous = fields.String()
    moderator = fields.String()
    at = fields.DateTime()


class BulkItemResultSchema(Schema):
    id = fields.String()
    ok = fields.Boolean()
    decision = fields.Nested(DecisionResultSchema, allow_none=True)
    error = fields.Nested(ErrorSchema, allow_none=True)
    standing = fields.Dict(allow_none=True)


class BulkResultSchema(Schema):
    results = fields.List(fields.Nested(BulkItemResultSchema))


class LogEntrySchema(Schema):
    id = fields.String()
    comment_id = fields.String()
    action = fields.String()
    previous = fields.String()
    moderator = fields.String()
    reason = fields.String()
    at = fields.DateTime()


class LogQuerySchema(PageQuerySchema):
    cursor = cursor_field(r"^\d{1,18}-\d{1,18}(\.\d{1,3})?$", "1795696216473-0.7")


class LogPageSchema(Schema):
    entries = fields.List(fields.Nested(LogEntrySchema))
    next_cursor = fields.String(allow_none=True)


# -- administration: polls, threads, tokens --------------------------------------


class AdminPageQuerySchema(StrictSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))
    cursor = cursor_field(r"^\d{1,17}(\.\d{1,17})?(e[+-]?\d{1,3})?:[a-z0-9-]{1,64}$", "1795696216.46141:mini-backpacks")


class AdminPollSchema(PollSchema):
    """A poll as an admin lists it: what readers see, and when it was created."""

    created_at = fields.DateTime(allow_none=True)


class AdminPollPageSchema(Schema):
    polls = fields.List(fields.Nested(AdminPollSchema))
    next_cursor = fields.String(allow_none=True)
    total = fields.Integer(metadata={"description": "Polls in the registry."})


class StatusCountsSchema(Schema):
    pending = fields.Integer()
    approved = fields.Integer()
    rejected = fields.Integer()
    spam = fields.Integer()


class ThreadSummarySchema(Schema):
    id = fields.String()
    first_comment_at = fields.DateTime()
    counts = fields.Nested(StatusCountsSchema)
    page_url = fields.String(allow_none=True, metadata={"description": "The thread's article, when recorded."})


class ThreadPageSchema(Schema):
    threads = fields.List(fields.Nested(ThreadSummarySchema))
    next_cursor = fields.String(allow_none=True)
    total = fields.Integer()


class TokenSchema(Schema):
    name = fields.String()
    role = fields.String(metadata={"enum": list(ROLES)})
    created_at = fields.DateTime(allow_none=True)


class TokenListSchema(Schema):
    tokens = fields.List(fields.Nested(TokenSchema))


class TokenCreateSchema(StrictSchema):
    name = fields.String(
        required=True,
        validate=validate.Regexp(TOKEN_NAME_PATTERN, error="1-64 letters, digits and _ . @ -"),
        metadata={"description": "Who holds the token; shown in the moderation log."},
    )
    role = fields.String(load_default="moderator", validate=validate.OneOf(ROLES))


class TokenCreatedSchema(TokenSchema):
    token = fields.String(metadata={"description": "The token itself, shown this once; only its hash is kept."})


WEBHOOK_ID_PATTERN = r"^wh_[0-9a-f]{16}$"
MESSAGE_ID_PATTERN = r"^msg_[0-9a-f]{24}$"
# http(s), a host name or IPv4 address, an optional port and path: whether the host resolves
# and where to is the core's check (a 409), as it depends on DNS, not on the request.
WEBHOOK_URL_PATTERN = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s]*)?$"
WEBHOOK_URL_ERROR = "An http:// or https:// URL: host name or IPv4 address, optional port and path."


class WebhookUpdateSchema(StrictSchema):
    url = fields.String(
        validate=[validate.Length(max=2000), validate.Regexp(WEBHOOK_URL_PATTERN, error=WEBHOOK_URL_ERROR)],
        metadata={"description": "Where events are POSTed: http(s), by default not a local address."},
    )
    events = fields.List(
        fields.String(validate=validate.OneOf(WEBHOOK_EVENTS)),
        validate=validate.Length(min=1, max=len(WEBHOOK_EVENTS)),
        metadata={"description": "The events sent to it."},
    )
    format = fields.String(
        validate=validate.OneOf(WEBHOOK_FORMATS),
        metadata={"description": '`standard`: the event as JSON; `slack`: `{"text": ...}` for chat webhooks.'},
    )
    private = fields.Boolean(metadata={"description": "Payloads include commenters' email and IP digest."})
    disabled = fields.Boolean(metadata={"description": "Stop deliveries; false re-enables a disabled endpoint."})


class WebhookCreateSchema(WebhookUpdateSchema):
    url = fields.String(
        required=True,
        validate=[validate.Length(max=2000), validate.Regexp(WEBHOOK_URL_PATTERN, error=WEBHOOK_URL_ERROR)],
        metadata={"description": "Where events are POSTed: http(s), by default not a local address."},
    )
    events = fields.List(
        fields.String(validate=validate.OneOf(WEBHOOK_EVENTS)),
        required=True,
        validate=validate.Length(min=1, max=len(WEBHOOK_EVENTS)),
    )
    format = fields.String(load_default="standard", validate=validate.OneOf(WEBHOOK_FORMATS))
    private = fields.Boolean(load_default=False)


class WebhookSchema(Schema):
    id = fields.String()
    url = fields.String()
    events = fields.List(fields.String())
    format = fields.String()
    private = fields.Boolean()
    disabled = fields.Boolean(metadata={"description": "True after a day of failed deliveries, or when set."})
    failing_since = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class WebhookCreatedSchema(WebhookSchema):
    secret = fields.String(metadata={"description": "The signing secret (`whsec_...`), shown this once."})


class WebhookListSchema(Schema):
    webhooks = fields.List(fields.Nested(WebhookSchema))


class WebhookAttemptSchema(Schema):
    delivery_id = fields.String(metadata={"description": "The message's id (`webhook-id`); redeliver it by this."})
    event = fields.String()
    attempt = fields.Integer(metadata={"description": "0 for the first try, then each retry."})
    attempted_at = fields.DateTime()
    status_code = fields.Integer(allow_none=True, metadata={"description": "None when no answer came."})
    latency_ms = fields.Integer()
    error = fields.String(allow_none=True)


class RedeliverySchema(Schema):
    webhook_id = fields.String()
    delivery_id = fields.String()


class WebhookAttemptListSchema(Schema):
    deliveries = fields.List(fields.Nested(WebhookAttemptSchema))


# -- presenters: the core's objects in the shape of the output schemas -------------


def utc(epoch: float | None) -> dt.datetime | None:
    """An epoch time as an aware UTC datetime (None stays None)."""
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc) if epoch is not None else None


def present_poll(poll: Poll, at: float) -> dict[str, Any]:
    """A poll as PollSchema dumps it, in its state at time ``at``."""
    return {
        "id": poll.id,
        "question": poll.question,
        "state": poll.state(at),
        "closes_at": utc(poll.closes_at),
        "allow_change": poll.allow_change,
        "tally": poll.tally,
        "percent": poll.percent,
    }


def present_admin_poll(poll: Poll, at: float) -> dict[str, Any]:
    """A poll as AdminPollSchema dumps it."""
    return {**present_poll(poll, at), "created_at": utc(poll.created_at)}


def present_thread(thread: ThreadSummary) -> dict[str, Any]:
    """A thread as ThreadSummarySchema dumps it."""
    return {
        "id": thread.id,
        "first_comment_at": utc(thread.first_comment_at),
        "counts": thread.counts,
        "page_url": thread.page_url,
    }


def present_token(holder: TokenHolder) -> dict[str, Any]:
    """A token holder as TokenSchema dumps it (never the token)."""
    return {"name": holder.name, "role": holder.role, "created_at": utc(holder.created_at)}


def present_comment(comment: Comment) -> dict[str, Any]:
    """A published comment as CommentSchema dumps it."""
    return {
        "id": comment.id,
        "author": comment.author,
        "website": comment.website,
        "body": comment.body,
        "created_at": utc(comment.created_at),
        "edited_at": utc(comment.edited_at) if comment.edited_at else None,
        "parent_id": comment.parent_id,
        "vote": comment.vote,
    }


def present_for_moderator(comment: Comment, context: Context | None = None) -> dict[str, Any]:
    """A comment with everything a moderator sees, as ModerationCommentSchema dumps it; with
    ``context``, also the comment it replies to and its thread's article."""
    parent = context.parents.get(comment.parent_id) if context and comment.parent_id else None
    return {
        "id": comment.id,
        "thread": comment.thread_id,
        "page_url": context.page_urls.get(comment.thread_id) if context else None,
        "parent": {"author": parent.author, "body": parent.body, "status": parent.status} if parent else None,
        "status": comment.status,
        "author": comment.author,
        "email": comment.email,
        "website": comment.website,
        "body": comment.body,
        "parent_id": comment.parent_id,
        "vote": comment.vote,
        "submitted_at": utc(comment.created_at),
        "ip_hash": comment.ip_digest,
        "user_agent": comment.user_agent,
        "signals": {
            "links": comment.links,
            "same_text_before": comment.same_text_count,
            "recent_from_ip": comment.recent_from_ip,
            "surge": comment.surge,
            "held_reason": comment.held_reason or None,
        },
        "decided_by": comment.decided_by,
        "decided_at": utc(comment.decided_at),
        "reason": comment.reason,
    }


def present_decision(decision: Decision) -> dict[str, Any]:
    """A decision as DecisionResultSchema dumps it."""
    return {
        "id": decision.id,
        "action": decision.action,
        "status": decision.status,
        "previous": decision.previous,
        "moderator": decision.moderator,
        "at": utc(decision.at),
    }


def present_log_entry(entry: LogEntry) -> dict[str, Any]:
    """A log line as LogEntrySchema dumps it."""
    return {
        "id": entry.id,
        "comment_id": entry.comment_id,
        "action": entry.action,
        "previous": entry.previous,
        "moderator": entry.moderator,
        "reason": entry.reason,
        "at": utc(entry.at),
    }


def present_webhook(endpoint: Endpoint) -> dict[str, Any]:
    """An endpoint as WebhookSchema dumps it (never its secret)."""
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": list(endpoint.events),
        "format": endpoint.format,
        "private": endpoint.private,
        "disabled": endpoint.disabled,
        "failing_since": utc(endpoint.failing_since),
        "created_at": utc(endpoint.created_at),
    }


def present_attempt(attempt: Attempt) -> dict[str, Any]:
    """A delivery attempt as WebhookAttemptSchema dumps it."""
    return {
        "delivery_id": attempt.message_id,
        "event": attempt.event,
        "attempt": attempt.attempt,
        "attempted_at": utc(attempt.attempted_at),
        "status_code": attempt.status_code,
        "latency_ms": attempt.latency_ms,
        "error": attempt.error,
    }


# -- spam tools and vote integrity -----------------------------------------------------


class RuleCreateSchema(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(RULE_KINDS))
    value = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=200),
            Pattern(r"^[\s\S]*[^\x00-\x20\x7f]", error="Give a word, domain, email or IP digest."),
        ],
        metadata={
            "description": "A word or phrase (whole words, any case), a link domain (and its subdomains), "
            "an email address (kept only as its keyed digest) or an IP digest as the queue shows it."
        },
    )
    action = fields.String(load_default="hold", validate=validate.OneOf(RULE_ACTIONS))


class RuleSchema(Schema):
    id = fields.String()
    kind = fields.String(metadata={"enum": list(RULE_KINDS)})
    value = fields.String(metadata={"description": "As matched: lower case; for an email, its digest."})
    action = fields.String(metadata={"enum": list(RULE_ACTIONS)})
    created_at = fields.DateTime()
    created_by = fields.String()


class RuleListSchema(Schema):
    rules = fields.List(fields.Nested(RuleSchema))


class BanCreateSchema(StrictSchema):
    comment_id = fields.String(required=True, validate=Pattern(COMMENT_ID_PATTERN, error="Not a comment id."))
    ip = StrictBoolean(load_default=False, metadata={"description": "Ban the comment's IP digest."})
    email = StrictBoolean(load_default=False, metadata={"description": "Ban the comment's email digest."})
    duration = fields.Integer(
        load_default=86400,
        validate=validate.Range(min=60, max=10 * 365 * 86400),
        metadata={"description": "Seconds the ban lasts."},
    )


class BanSchema(Schema):
    id = fields.String()
    comment_id = fields.String()
    ip_hash = fields.String(allow_none=True)
    email_digest = fields.String(allow_none=True)
    until = fields.DateTime()
    created_at = fields.DateTime()
    created_by = fields.String()


class BanListSchema(Schema):
    bans = fields.List(fields.Nested(BanSchema))


class MinuteCountSchema(Schema):
    minute = fields.DateTime()
    votes = fields.Integer(metadata={"description": "New votes and changes that minute."})


class IpCountSchema(Schema):
    ip_hash = fields.String()
    count = fields.Integer(metadata={"description": "Votes, changes and refused new voters from it."})


class IntegritySchema(Schema):
    poll = fields.String()
    since = fields.DateTime(metadata={"description": "Start of the previous UTC hour: the totals count from here."})
    votes_per_minute = fields.List(fields.Nested(MinuteCountSchema), metadata={"description": "The last 60 minutes."})
    new_voters = fields.Integer()
    refused_new_voters = fields.Integer(metadata={"description": "New voters refused by the per-IP daily ceiling."})
    refused_share = fields.Float(metadata={"description": "refused / (new + refused), 0 to 1."})
    changes = fields.Integer(metadata={"description": "Votes moved from one side to the other."})
    busiest_ips = fields.List(fields.Nested(IpCountSchema), metadata={"description": "Top 10, counts only."})


class MailSubscriberSchema(StrictSchema):
    email = fields.String(
        required=True,
        validate=[validate.Length(max=254), Pattern(EMAIL_PATTERN, error="Not a valid email address.")],
        metadata={"description": "Where the digest of pending comments and the surge alerts go."},
    )


class MailSubscriberListSchema(Schema):
    subscribers = fields.List(fields.Nested(MailSubscriberSchema))


def present_rule(rule: Rule) -> dict[str, Any]:
    """A blocklist rule as RuleSchema dumps it."""
    return {**rule.__dict__, "created_at": utc(rule.created_at)}


def present_ban(ban: Ban) -> dict[str, Any]:
    """A ban as BanSchema dumps it."""
    return {
        "id": ban.id,
        "comment_id": ban.comment_id,
        "ip_hash": ban.ip_digest,
        "email_digest": ban.email_digest,
        "until": utc(ban.until),
        "created_at": utc(ban.created_at),
        "created_by": ban.created_by,
    }


def present_integrity(poll_id: str, report: IntegrityReport) -> dict[str, Any]:
    """A poll's vote-integrity report as IntegritySchema dumps it."""
    return {
        "poll": poll_id,
        "since": utc(report.since),
        "votes_per_minute": [{"minute": utc(minute), "votes": votes} for minute, votes in report.votes_by_minute],
        "new_voters": report.new_voters,
        "refused_new_voters": report.refused_new_voters,
        "refused_share": report.refused_share,
        "changes": report.changes,
        "busiest_ips": [{"ip_hash": ip, "count": count} for ip, count in report.busiest_ips],
    }
