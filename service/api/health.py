"""Liveness and readiness for load balancers and container health checks."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from service.errors import StoreUnavailable
from service.extensions import store
from service.schemas import HealthSchema

blp = Blueprint("health", __name__, description="Health checks.")


@blp.route("/healthz")
class Liveness(MethodView):
    @blp.response(200, HealthSchema())
    def get(self):
        """The process is alive (Redis is not consulted)."""
        return {"status": "ok"}


@blp.route("/readyz")
class Readiness(MethodView):
    @blp.response(200, HealthSchema())
    @blp.alt_response(503, schema=None, description="Redis does not answer.")
    def get(self):
        """Redis answers: the service can take traffic."""
        if not store.is_ready():
            raise StoreUnavailable("Redis does not answer.")
        return {"status": "ready"}
