"""The widget script, the iframe page's plain forms and the badge, over HTTP."""

import gzip

from service import create_app


def test_the_widget_is_small_cached_long_and_versioned(client):
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert len(gzip.compress(response.data, 9)) <= 10 * 1024
    assert "max-age=86400" in response.headers["Cache-Control"]
    version = response.headers["ETag"].strip('"')
    assert client.get("/widget.js", headers={"If-None-Match": f'"{version}"'}).status_code == 304

    pinned = client.get(f"/widget.{version}.js")
    assert pinned.data == response.data
    assert pinned.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert client.get("/widget.000000000000.js").status_code == 404


def test_the_widget_never_writes_html_from_strings(client):
    source = client.get("/widget.js").get_data(as_text=True)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in source


def test_the_iframe_page_may_be_framed_only_by_allowed_origins(client, make_poll):
    make_poll()
    response = client.get("/embed/mini-backpacks")
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://blog.example" in policy
    assert "script-src 'self'" in policy
    assert b"Are you YAY or NAY on mini backpacks?" in response.data
    assert client.get("/embed/no-such-poll").status_code == 404


def test_a_form_vote_comes_back_with_a_cookie_that_keeps_the_voter(client, make_poll):
    make_poll()
    first = client.post("/embed/mini-backpacks/vote", data={"choice": "yay"})
    assert first.status_code == 303
    assert first.headers["Location"].endswith("/embed/mini-backpacks#tally")
    cookie = first.headers["Set-Cookie"]
    assert "yaynay_voter=" in cookie and "HttpOnly" in cookie and "Path=/embed/" in cookie

    page = client.get("/embed/mini-backpacks").get_data(as_text=True)
    assert "You voted YAY" in page
    client.post("/embed/mini-backpacks/vote", data={"choice": "nay"})
    assert client.get("/api/v1/polls/mini-backpacks").json["tally"] == {"yay": 0, "nay": 1, "total": 1}


def test_a_bad_or_refused_form_vote_shows_the_page_with_the_reason(settings, redis_client, make_poll):
    settings["VOTE_RATE_LIMIT"] = "1/minute"
    client = create_app(settings).test_client()
    client.put("/api/v1/polls/p", json={"question": "Q?"}, headers={"Authorization": "Bearer test-admin-token"})
    assert client.post("/embed/p/vote", data={"choice": "maybe"}).status_code == 422
    assert client.post("/embed/p/vote", data={"choice": "yay"}).status_code == 303
    refused = client.post("/embed/p/vote", data={"choice": "nay"})
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "50"
    assert "Too many votes" in refused.get_data(as_text=True)


def test_the_badge_is_an_svg_of_the_tally_with_an_etag(client, make_poll, new_voter):
    make_poll()
    client.post("/api/v1/polls/mini-backpacks/votes", json={"choice": "yay", "voter": new_voter()})
    badge = client.get("/api/v1/polls/mini-backpacks/badge.svg")
    assert badge.status_code == 200
    assert badge.mimetype == "image/svg+xml"
    assert "YAY 100%" in badge.get_data(as_text=True)
    assert badge.headers["Cache-Control"] == "public, max-age=5"
    assert (
        client.get(
            "/api/v1/polls/mini-backpacks/badge.svg", headers={"If-None-Match": badge.headers["ETag"]}
        ).status_code
        == 304
    )


def test_the_badge_escapes_the_question(client, admin):
    client.put("/api/v1/polls/x", json={"question": "<script>alert(1)</script> & more?"}, headers=admin)
    svg = client.get("/api/v1/polls/x/badge.svg").get_data(as_text=True)
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_the_demo_article_embeds_the_widget_and_creates_its_poll(client):
    page = client.get("/").get_data(as_text=True)
    assert 'data-yaynay-poll="mini-backpacks"' in page
    assert '<script src="/widget.js" async></script>' in page
    assert 'method="post" action="/api/v1/threads/mini-backpacks/comments"' in page
    assert client.get("/api/v1/polls/mini-backpacks").json["question"] == "Are you YAY or NAY on mini backpacks?"


def test_the_demo_is_off_in_production_and_the_console_stays(settings, redis_client):
    settings.update(ENV="production", DEMO=None)
    app = create_app(settings)
    client = app.test_client()
    assert client.get("/").status_code == 404
    console = client.get("/moderate")
    assert console.status_code == 200
    assert "script-src 'self'" in console.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in console.headers["Content-Security-Policy"]
    assert "<script>" not in console.get_data(as_text=True)  # no inline script
    app.extensions["yaynay"].close()


def test_the_console_can_be_turned_off_alone(settings, redis_client):
    settings.update(CONSOLE=False)
    app = create_app(settings)
    client = app.test_client()
    assert client.get("/moderate").status_code == 404
    assert client.get("/").status_code == 200
    app.extensions["yaynay"].close()


def test_a_vote_form_posted_from_another_site_is_refused(client, make_poll):
    make_poll()
    refused = client.post(
        "/embed/mini-backpacks/vote", data={"choice": "yay"}, headers={"Origin": "https://evil.example"}
    )
    assert refused.status_code == 403
    own = client.post("/embed/mini-backpacks/vote", data={"choice": "yay"}, headers={"Origin": "http://localhost"})
    assert own.status_code == 303
    assert client.get("/api/v1/polls/mini-backpacks").json["tally"]["total"] == 1
