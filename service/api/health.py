"""Liveness and readiness for load balancers and container health checks."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from service.api.context import core
from service.api.io import answers
from service.errors import StoreUnavailable
from service.schemas import HealthSchema

blp = Blueprint("health", __name__, description="Health checks.")


@blp.route("/healthz")
class Liveness(MethodView):
    @answers(blp, 200, HealthSchema())
    def get(self) -> dict[str, str]:
        """The process is alive (Redis is not consulted)."""
        return {"status": "ok"}


@blp.route("/readyz")
class Readiness(MethodView):
    @answers(blp, 200, HealthSchema(), alternatives={503: "Redis does not answer."})
    def get(self) -> dict[str, str]:
        """Redis answers: the service can take traffic."""
        if not core().is_ready():
            raise StoreUnavailable("Redis does not answer.")
        return {"status": "ready"}
