"""Marshmallow schemas: every input the API accepts and every output it sends."""

from __future__ import annotations

import datetime as dt
import re

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates

POLL_ID_PATTERN = r"^[a-z0-9-]{1,64}$"
VOTER_TOKEN_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"
MAX_BATCH_IDS = 100


class StrictSchema(Schema):
    """Rejects unknown fields, naming them."""

    class Meta:
        unknown = RAISE


class ErrorSchema(Schema):
    """The one error shape."""

    code = fields.Integer(required=True)
    status = fields.String(required=True)
    message = fields.String(required=True)
    errors = fields.Dict(
        metadata={"description": "Fields at fault by location, e.g. {\"json\": {\"choice\": [...]}}"}
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


class PollIdsQuerySchema(StrictSchema):
    ids = fields.String(
        required=True,
        metadata={"description": "Comma-separated poll ids, at most 100.", "example": "mini-backpacks,crocs"},
    )

    @post_load
    def split_ids(self, data, **kwargs):
        ids = list(dict.fromkeys(part.strip() for part in data["ids"].split(",") if part.strip()))
        if not ids:
            raise ValidationError("Give at least one poll id.", "ids")
        if len(ids) > MAX_BATCH_IDS:
            raise ValidationError(f"At most {MAX_BATCH_IDS} ids.", "ids")
        bad = [poll_id for poll_id in ids if not re.match(POLL_ID_PATTERN, poll_id)]
        if bad:
            raise ValidationError(f"Not poll ids: {', '.join(bad[:5])}.", "ids")
        return {"ids": ids}


class PollUpdateSchema(StrictSchema):
    """What an admin sets on a poll."""

    question = fields.String(required=True, validate=validate.Length(min=1, max=300))
    closes_at = fields.AwareDateTime(
        load_default=None, allow_none=True, default_timezone=dt.timezone.utc,
        metadata={"description": "When voting stops (ISO 8601); null for never."},
    )
    allow_change = fields.Boolean(load_default=True)

    @validates("question")
    def question_not_blank(self, value, **kwargs):
        if not value.strip():
            raise ValidationError("Must not be blank.")


class VoteSchema(StrictSchema):
    choice = fields.String(required=True, validate=validate.OneOf(["yay", "nay"]))
    voter = fields.String(
        required=True,
        validate=validate.Regexp(
            VOTER_TOKEN_PATTERN, error="Must be 16-64 characters of A-Z, a-z, 0-9, '_' and '-'."
        ),
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
