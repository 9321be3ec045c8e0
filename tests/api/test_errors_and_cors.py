"""The one error shape, content checks, CORS, health and the API document."""

import re

import pytest


def assert_error_shape(response, code):
    assert response.status_code == code
    assert response.is_json
    assert set(response.json) == {"code", "status", "message", "errors"}
    assert response.json["code"] == code
    assert response.json["message"]


def test_malformed_json_is_400(client, make_poll):
    make_poll()
    response = client.post(
        "/api/v1/polls/mini-backpacks/votes", data='{"choice": "yay",', content_type="application/json"
    )
    assert_error_shape(response, 400)
    assert "JSON" in response.json["message"]


@pytest.mark.parametrize("depth", [1_000, 5_000])
@pytest.mark.parametrize(
    ("method", "path", "wrap"),
    [
        ("post", "/api/v1/polls/mini-backpacks/votes", lambda deep: '{"choice": "yay", "voter": %s}' % deep),
        ("post", "/api/v1/threads/mini-backpacks/comments", lambda deep: '{"author": "A", "body": %s}' % deep),
        ("put", "/api/v1/polls/mini-backpacks", lambda deep: '{"question": %s}' % deep),
        ("post", "/api/v1/moderation/decisions", lambda deep: '{"decisions": [%s]}' % deep),
        ("post", "/api/v1/polls/mini-backpacks/votes", lambda deep: deep),
    ],
)
def test_json_nested_too_deep_to_parse_is_400_not_500(client, make_poll, admin, method, path, wrap, depth):
    make_poll()
    deep = "[" * depth + "]" * depth
    body = wrap(deep)
    assert len(body) < 16 * 1024
    response = getattr(client, method)(path, data=body, content_type="application/json", headers=admin)
    assert_error_shape(response, 400)
    assert "JSON" in response.json["message"]


def test_json_that_is_not_an_object_is_422(client, make_poll):
    make_poll()
    response = client.post("/api/v1/polls/mini-backpacks/votes", json=["yay"])
    assert_error_shape(response, 422)


def test_a_wrong_content_type_is_415(client, make_poll):
    make_poll()
    response = client.post(
        "/api/v1/polls/mini-backpacks/votes",
        data="choice=yay&voter=aaaaaaaaaaaaaaaaaaaa",
        content_type="application/x-www-form-urlencoded",
    )
    assert_error_shape(response, 415)
    assert "Content-Type" in response.json["errors"]["headers"]


def test_a_body_over_the_limit_is_413(client, make_poll):
    make_poll()
    big = '{"choice": "yay", "voter": "' + "a" * 17000 + '"}'
    response = client.post("/api/v1/polls/mini-backpacks/votes", data=big, content_type="application/json")
    assert_error_shape(response, 413)


def test_an_unknown_route_and_a_wrong_method_are_json(client):
    assert_error_shape(client.get("/api/v1/nothing-here"), 404)
    assert_error_shape(client.patch("/api/v1/polls/mini-backpacks"), 405)


def test_cors_allows_only_the_configured_origins(client, make_poll):
    make_poll()
    allowed = client.get("/api/v1/polls/mini-backpacks", headers={"Origin": "https://blog.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://blog.example"
    assert "RateLimit" in allowed.headers["Access-Control-Expose-Headers"]
    other = client.get("/api/v1/polls/mini-backpacks", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_cors_compares_origins_as_the_form_check_does_whatever_their_case(client, make_poll):
    make_poll()
    shouted = client.get("/api/v1/polls/mini-backpacks", headers={"Origin": "HTTPS://Blog.Example"})
    assert shouted.headers["Access-Control-Allow-Origin"] == "HTTPS://Blog.Example"


def test_cors_preflight_is_answered_for_allowed_origins(client):
    preflight = client.options(
        "/api/v1/polls/mini-backpacks/votes",
        headers={
            "Origin": "https://blog.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://blog.example"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "content-type" in preflight.headers["Access-Control-Allow-Headers"].lower()

    refused = client.options(
        "/api/v1/polls/mini-backpacks/votes",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_health_and_readiness(client):
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ready"}


def test_the_openapi_document_covers_every_endpoint(client, app):
    document = client.get("/openapi.json").json
    assert document["openapi"].startswith("3.")
    documented = {
        (path, method.upper()) for path, item in document["paths"].items() for method in item if method != "parameters"
    }
    served = set()
    for rule in app.url_map.iter_rules():
        if not (rule.rule.startswith("/api/") or rule.rule in ("/healthz", "/readyz")):
            continue  # HTML pages and static files are not part of the API
        path = re.sub(r"<\w+:(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((path, method))
    assert served <= documented, served - documented
    vote_body = document["paths"]["/api/v1/polls/{poll_id}/votes"]["post"]["requestBody"]
    assert "application/json" in vote_body["content"]


def test_every_answer_forbids_content_sniffing(client, make_poll, admin):
    make_poll()
    answers = {
        "json": client.get("/api/v1/polls/mini-backpacks"),
        "svg": client.get("/api/v1/polls/mini-backpacks/badge.svg"),
        "js": client.get("/widget.js"),
        "html": client.get("/embed/mini-backpacks"),
        "static": client.get("/static/embed.css"),
        "error": client.get("/api/v1/polls/no-such-poll"),
        "unauthorized": client.get("/api/v1/moderation/queue"),
        "not modified": client.get(
            "/api/v1/polls/mini-backpacks",
            headers={"If-None-Match": client.get("/api/v1/polls/mini-backpacks").headers["ETag"]},
        ),
    }
    for kind, response in answers.items():
        assert response.headers.get("X-Content-Type-Options") == "nosniff", (kind, response.status_code)
