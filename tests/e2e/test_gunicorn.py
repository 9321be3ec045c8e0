"""The real server: gunicorn with config/gunicorn.conf.py, votes over HTTP."""

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.conftest import ADMIN_TOKEN


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirects)


def request(method, url, body=None, headers=None, form=None):
    """(status, headers, parsed JSON or text) of one HTTP request, redirects not followed."""
    if form is not None:
        data, content_type = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
    else:
        data, content_type = (json.dumps(body).encode() if body is not None else None), "application/json"
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": content_type, **(headers or {})}
    )
    try:
        response = OPENER.open(req, timeout=5)
    except urllib.error.HTTPError as error:
        response = error
    with response:
        raw, headers = response.read(), dict(response.headers)
    is_json = headers.get("Content-Type", "").startswith("application/json")
    return response.status, headers, json.loads(raw or b"null") if is_json else raw.decode()


@pytest.fixture
def server(live_server):
    return live_server


@pytest.mark.e2e
def test_votes_over_http_through_gunicorn(server):
    status, _, _ = request(
        "PUT",
        f"{server}/api/v1/polls/mini-backpacks",
        {"question": "Are you YAY or NAY on mini backpacks?"},
        {"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert status == 201

    status, headers, body = request(
        "POST", f"{server}/api/v1/polls/mini-backpacks/votes", {"choice": "yay", "voter": "e2e-reader-token-1"}
    )
    assert status == 200
    assert body["tally"] == {"yay": 1, "nay": 0, "total": 1}
    assert headers["RateLimit-Policy"] == '"votes";q=30;w=60'

    status, _, body = request(
        "POST", f"{server}/api/v1/polls/mini-backpacks/votes", {"choice": "nay", "voter": "e2e-reader-token-1"}
    )
    assert (status, body["changed"], body["tally"]["nay"]) == (200, True, 1)

    status, _, body = request("POST", f"{server}/api/v1/polls/mini-backpacks/votes", {"choice": "meh"})
    assert status == 422 and set(body["errors"]["json"]) == {"choice", "voter"}

    status, headers, body = request("GET", f"{server}/api/v1/polls/mini-backpacks")
    assert status == 200 and body["tally"] == {"yay": 0, "nay": 1, "total": 1}
    assert headers["Server"] == "gunicorn"


@pytest.mark.e2e
def test_a_form_comment_is_moderated_and_published_through_gunicorn(server):
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    status, headers, _ = request(
        "POST",
        f"{server}/api/v1/threads/mini-backpacks/comments",
        form={
            "author": "Form Reader",
            "email": "form@example.com",
            "body": "Posted\nwithout JavaScript",
            "return_to": "https://blog.example/mini-backpacks",
        },
    )
    assert status == 303
    assert headers["Location"] == "https://blog.example/mini-backpacks#yaynay-comment-pending"

    status, _, page = request(
        "POST", f"{server}/api/v1/threads/mini-backpacks/comments", form={"author": "", "body": "Kept text"}
    )
    assert status == 422 and "Kept text" in page

    status, _, queue = request("GET", f"{server}/api/v1/moderation/queue", headers=admin)
    (pending,) = queue["comments"]
    assert pending["email"] == "form@example.com"

    status, _, decision = request(
        "POST", f"{server}/api/v1/moderation/comments/{pending['id']}", {"action": "approve"}, admin
    )
    assert (status, decision["status"]) == (200, "approved")

    status, _, listing = request("GET", f"{server}/api/v1/threads/mini-backpacks/comments")
    assert [c["body"] for c in listing["comments"]] == ["Posted\nwithout JavaScript"]
    assert "form@example.com" not in json.dumps(listing)
