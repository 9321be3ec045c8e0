"""Webhook endpoints (admin token): register, list, change, remove, and their deliveries."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from service.api.context import core
from service.api.io import answers, needs, takes
from service.core import events
from service.core.tokens import ADMIN
from service.schemas import (
    RedeliverySchema,
    WebhookAttemptListSchema,
    WebhookCreatedSchema,
    WebhookCreateSchema,
    WebhookListSchema,
    WebhookSchema,
    WebhookUpdateSchema,
    present_attempt,
    present_webhook,
)

blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/api/v1",
    description="Webhooks: signed POSTs on comment and poll events (admin token). See the README, Notifications.",
)

BAD_INPUT = "Not an http(s) URL, or an unknown event or format; errors name it."
REFUSED_URL = "The URL's host does not resolve, or resolves to a local address (WEBHOOK_ALLOW_PRIVATE)."


@blp.route("/webhooks")
class Webhooks(MethodView):
    @needs(blp, ADMIN)
    @answers(blp, 200, WebhookListSchema())
    def get(self) -> dict[str, Any]:
        """Every endpoint, oldest first (never the secrets)."""
        return {"webhooks": [present_webhook(endpoint) for endpoint in events.list_endpoints(core())]}

    @needs(blp, ADMIN)
    @answers(blp, 201, WebhookCreatedSchema(), alternatives={409: REFUSED_URL, 422: BAD_INPUT})
    @takes(blp, WebhookCreateSchema())
    def post(self, new: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """Register an endpoint; the answer holds its signing secret this once."""
        endpoint = events.add_endpoint(core(), new["url"], new["events"], format=new["format"], private=new["private"])
        return {**present_webhook(endpoint), "secret": endpoint.secret}, 201


@blp.route("/webhooks/<webhook_id:endpoint_id>")
class WebhookItem(MethodView):
    @needs(blp, ADMIN)
    @answers(blp, 200, WebhookSchema(), alternatives={404: "No such endpoint."})
    def get(self, endpoint_id: str) -> dict[str, Any]:
        """One endpoint."""
        return present_webhook(events.get_endpoint(core(), endpoint_id))

    @needs(blp, ADMIN)
    @answers(blp, 200, WebhookSchema(), alternatives={404: "No such endpoint.", 409: REFUSED_URL, 422: BAD_INPUT})
    @takes(blp, WebhookUpdateSchema())
    def patch(self, changes: dict[str, Any], endpoint_id: str) -> dict[str, Any]:
        """Change some of url, events, format, private, disabled (the secret stays)."""
        return present_webhook(events.update_endpoint(core(), endpoint_id, changes))

    @needs(blp, ADMIN)
    @answers(blp, 200, WebhookSchema(), alternatives={404: "No such endpoint.", 409: REFUSED_URL, 422: BAD_INPUT})
    @takes(blp, WebhookCreateSchema())
    def put(self, replacement: dict[str, Any], endpoint_id: str) -> dict[str, Any]:
        """Replace url, events, format and private (the secret stays)."""
        return present_webhook(events.update_endpoint(core(), endpoint_id, replacement))

    @needs(blp, ADMIN)
    @answers(blp, 204, description="Removed.", alternatives={404: "No such endpoint."})
    def delete(self, endpoint_id: str) -> tuple[None, int]:
        """Stop sending to the endpoint and forget its deliveries."""
        events.remove_endpoint(core(), endpoint_id)
        return None, 204


@blp.route("/webhooks/<webhook_id:endpoint_id>/deliveries")
class Deliveries(MethodView):
    @needs(blp, ADMIN)
    @answers(blp, 200, WebhookAttemptListSchema(), alternatives={404: "No such endpoint."})
    def get(self, endpoint_id: str) -> dict[str, Any]:
        """The endpoint's latest delivery attempts (at most 100), newest first."""
        return {"deliveries": [present_attempt(attempt) for attempt in events.attempts(core(), endpoint_id)]}


@blp.route("/webhooks/<webhook_id:endpoint_id>/deliveries/<message_id:message_id>/redeliver")
class Redelivery(MethodView):
    @needs(blp, ADMIN)
    @answers(blp, 202, RedeliverySchema(), alternatives={404: "No such endpoint, or the message expired."})
    def post(self, endpoint_id: str, message_id: str) -> tuple[dict[str, str], int]:
        """Queue the message to the endpoint again (messages are kept 3 days)."""
        events.redeliver(core(), endpoint_id, message_id)
        return {"webhook_id": endpoint_id, "delivery_id": message_id}, 202
