"""URL converters: a malformed poll, thread or comment id, or token name, is a 404 before any view runs."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api
from werkzeug.routing import BaseConverter

from service.schemas import (
    COMMENT_ID_PATTERN,
    EMAIL_PATTERN,
    MESSAGE_ID_PATTERN,
    POLL_ID_PATTERN,
    SPAM_TOOL_ID_PATTERN,
    TOKEN_NAME_PATTERN,
    WEBHOOK_ID_PATTERN,
)


class ResourceIdConverter(BaseConverter):
    """Poll and thread ids: 1-64 of ``[a-z0-9-]``."""

    regex = POLL_ID_PATTERN.strip("^$")


class CommentIdConverter(BaseConverter):
    """Comment ids: ``<thread id>.<8 characters of a-z and 2-7>``."""

    regex = COMMENT_ID_PATTERN.strip("^$")


class TokenNameConverter(BaseConverter):
    """Token holders' names: 1-64 letters, digits and ``_ . @ -``."""

    regex = TOKEN_NAME_PATTERN.strip("^$")


class WebhookIdConverter(BaseConverter):
    """Webhook endpoint ids: ``wh_`` and 16 hex digits."""

    regex = WEBHOOK_ID_PATTERN.strip("^$")


class MessageIdConverter(BaseConverter):
    """Webhook message (delivery) ids: ``msg_`` and 24 hex digits."""

    regex = MESSAGE_ID_PATTERN.strip("^$")


class SpamToolIdConverter(BaseConverter):
    """Blocklist rule and ban ids: 12 hex digits."""

    regex = SPAM_TOOL_ID_PATTERN.strip("^$")


class MailAddressConverter(BaseConverter):
    """Subscribed mail addresses, as the moderators' mail takes them."""

    regex = EMAIL_PATTERN.strip("^$")


def init_app(app: Flask, api: Api) -> None:
    """Register the converters with Flask and document them in the OpenAPI document."""
    for name, converter, pattern in (
        ("resource_id", ResourceIdConverter, POLL_ID_PATTERN),
        ("comment_id", CommentIdConverter, COMMENT_ID_PATTERN),
        ("token_name", TokenNameConverter, TOKEN_NAME_PATTERN),
        ("webhook_id", WebhookIdConverter, WEBHOOK_ID_PATTERN),
        ("message_id", MessageIdConverter, MESSAGE_ID_PATTERN),
        ("spam_tool_id", SpamToolIdConverter, SPAM_TOOL_ID_PATTERN),
        ("mail_address", MailAddressConverter, EMAIL_PATTERN),
    ):
        app.url_map.converters[name] = converter
        api.register_converter(converter, lambda _, pattern=pattern: {"type": "string", "pattern": pattern})
