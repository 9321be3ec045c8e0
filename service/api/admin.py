"""Administration (admin token): every poll with its tally and state, and the bearer tokens."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from service.api.context import core, now
from service.api.io import answers, needs, takes
from service.core import polls, tokens
from service.core.tokens import ADMIN
from service.errors import TokenNotFound
from service.schemas import (
    AdminPageQuerySchema,
    AdminPollPageSchema,
    TokenCreatedSchema,
    TokenCreateSchema,
    TokenListSchema,
    present_admin_poll,
    present_token,
)

blp = Blueprint(
    "admin",
    __name__,
    url_prefix="/api/v1",
    description="Administration: list polls, manage bearer tokens (admin token).",
)


# `GET /api/v1/polls` is the public batch read of tallies (`?ids=`), cached per poll; the
# admin's listing of every poll is another resource, never cached, under /admin.
@blp.route("/admin/polls")
class AdminPolls(MethodView):
    @needs(blp, ADMIN)
    @answers(blp, 200, AdminPollPageSchema())
    @takes(blp, AdminPageQuerySchema(), location="query")
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Every poll, newest first, with its tally and state; page with ``next_cursor``."""
        page = polls.list_polls(core(), limit=query["limit"], cursor=query["cursor"])
        at = now()
        return {
            "polls": [present_admin_poll(poll, at) for poll in page.polls],
            "next_cursor": page.next_cursor,
            "total": page.total,
        }


@blp.route("/tokens")
class Tokens(MethodView):
    @needs(blp, ADMIN)
    @answers(blp, 200, TokenListSchema())
    def get(self) -> dict[str, Any]:
        """Every token holder with its role and when the token was made (never the tokens)."""
        return {"tokens": [present_token(holder) for holder in tokens.list_tokens(core())]}

    @needs(blp, ADMIN)
    @answers(
        blp,
        201,
        TokenCreatedSchema(),
        alternatives={409: "A token with that name exists.", 422: "A bad or reserved name, or an unknown role."},
    )
    @takes(blp, TokenCreateSchema())
    def post(self, new: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """Make a token for ``name`` with ``role``; the answer holds it this once."""
        token = tokens.create_token(core(), new["name"], new["role"])
        holder = tokens.authenticate(core(), token)
        assert holder is not None  # just stored
        return {**present_token(holder), "token": token}, 201


@blp.route("/tokens/<token_name:name>")
class TokenItem(MethodView):
    @needs(blp, ADMIN)
    @answers(blp, 204, description="Revoked.", alternatives={404: "No token with that name."})
    def delete(self, name: str) -> tuple[None, int]:
        """Revoke ``name``'s token at once."""
        if not tokens.revoke_token(core(), name):
            raise TokenNotFound(name)
        return None, 204
