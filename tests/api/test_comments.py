"""Submitting comments (JSON and plain forms) and reading the approved ones."""

import pytest

from service import create_app

THREAD = "mini-backpacks"
URL = f"/api/v1/threads/{THREAD}/comments"


def comment(client, ip="203.0.113.7", headers=None, **fields):
    body = {"author": "Ann", "body": "Tiny and useless. NAY.", **fields}
    return client.post(URL, json=body, environ_base={"REMOTE_ADDR": ip}, headers=headers or {})


def form(client, ip="203.0.113.7", headers=None, **fields):
    return client.post(URL, data=fields, environ_base={"REMOTE_ADDR": ip}, headers=headers or {})


def approve(client, admin, comment_id):
    response = client.post(f"/api/v1/moderation/comments/{comment_id}", json={"action": "approve"}, headers=admin)
    assert response.status_code == 200, response.json
    return response


def test_a_json_comment_is_held_for_moderation(client):
    response = comment(client)
    assert response.status_code == 202
    assert response.json["status"] == "pending"
    assert response.json["id"].startswith(f"{THREAD}.")
    assert response.headers["RateLimit-Policy"] == '"comments";q=5;w=60'
    listing = client.get(URL).json
    assert listing == {"count": 0, "comments": [], "next_cursor": None}


def test_with_moderation_off_a_comment_is_published_at_once(settings, redis_client):
    settings["MODERATION"] = "off"
    client = create_app(settings).test_client()
    response = comment(client, body="Published straight away.")
    assert response.status_code == 201
    assert response.json["status"] == "approved"
    assert [c["body"] for c in client.get(URL).json["comments"]] == ["Published straight away."]


def test_approved_comments_are_listed_oldest_first_with_public_fields_only(client, admin, clock):
    ids = []
    for n in range(3):
        ids.append(
            comment(
                client,
                ip=f"203.0.113.{n}",
                author=f"Reader {n}",
                body=f"Comment {n}\nsecond line",
                email=f"r{n}@example.com",
                website="https://reader.example",
            ).json["id"]
        )
        clock.advance(1)
    for comment_id in reversed(ids):
        approve(client, admin, comment_id)

    listing = client.get(URL)
    assert listing.json["count"] == 3
    assert [c["id"] for c in listing.json["comments"]] == ids
    first = listing.json["comments"][0]
    assert set(first) == {"id", "author", "website", "body", "created_at", "parent_id", "vote", "edited_at"}
    assert first["body"] == "Comment 0\nsecond line"
    assert first["website"] == "https://reader.example"
    assert b"example.com" not in listing.data


def test_listing_pages_with_a_cursor(client, admin):
    ids = [comment(client, ip=f"198.51.100.{n}", body=f"Number {n}").json["id"] for n in range(5)]
    for comment_id in ids:
        approve(client, admin, comment_id)
    first = client.get(URL + "?limit=2").json
    second = client.get(URL + f"?limit=2&cursor={first['next_cursor']}").json
    third = client.get(URL + f"?limit=2&cursor={second['next_cursor']}").json
    assert [c["id"] for c in first["comments"] + second["comments"] + third["comments"]] == ids
    assert third["next_cursor"] is None
    assert first["count"] == 5
    assert client.get(URL + "?limit=0").status_code == 422
    assert client.get(URL + "?cursor=%3Cscript%3E").status_code == 422
    assert client.get(URL + "?cursor=abc").status_code == 422


def test_the_listing_etag_changes_when_a_comment_is_approved(client, admin):
    before = client.get(URL)
    assert client.get(URL, headers={"If-None-Match": before.headers["ETag"]}).status_code == 304
    approve(client, admin, comment(client).json["id"])
    after = client.get(URL, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and after.json["count"] == 1


def test_a_comment_shows_its_authors_live_vote(client, admin, make_poll, new_voter):
    make_poll(THREAD)
    voter = new_voter()
    client.post(f"/api/v1/polls/{THREAD}/votes", json={"choice": "yay", "voter": voter})
    approve(client, admin, comment(client, voter=voter).json["id"])
    approve(client, admin, comment(client, ip="198.51.100.9", body="No vote here").json["id"])
    assert [c["vote"] for c in client.get(URL).json["comments"]] == ["yay", None]

    client.post(f"/api/v1/polls/{THREAD}/votes", json={"choice": "nay", "voter": voter})
    assert client.get(URL).json["comments"][0]["vote"] == "nay"


def test_a_reply_must_name_an_approved_comment_of_the_same_thread(client, admin):
    pending = comment(client).json["id"]
    refused = comment(client, ip="198.51.100.1", body="A reply", parent_id=pending)
    assert refused.status_code == 409  # well formed, but the parent is not published (yet)
    assert "parent_id" in refused.json["errors"]["json"]

    approve(client, admin, pending)
    reply = comment(client, ip="198.51.100.1", body="A reply", parent_id=pending)
    assert reply.status_code == 202
    approve(client, admin, reply.json["id"])
    assert client.get(URL).json["comments"][1]["parent_id"] == pending

    elsewhere = client.post(
        "/api/v1/threads/other-thread/comments", json={"author": "B", "body": "Cross-thread", "parent_id": pending}
    )
    assert elsewhere.status_code == 409


@pytest.mark.parametrize(
    "fields, bad",
    [
        ({"author": ""}, "author"),
        ({"author": "x" * 81}, "author"),
        ({"body": ""}, "body"),
        ({"body": "   \n  "}, "body"),
        ({"body": "x" * 5001}, "body"),
        ({"email": "not-an-address"}, "email"),
        ({"website": "javascript:alert(1)"}, "website"),
        ({"website": "ftp://files.example"}, "website"),
        ({"parent_id": "../../etc"}, "parent_id"),
        ({"voter": "short"}, "voter"),
        ({"rating": 5}, "rating"),
    ],
)
def test_bad_json_fields_are_422_naming_each(client, fields, bad):
    response = comment(client, **fields)
    assert response.status_code == 422
    assert bad in response.json["errors"]["json"]


def test_a_json_comment_with_a_wrong_content_type_is_415(client):
    response = client.post(URL, data="author=Ann&body=Hi", content_type="text/plain")
    assert response.status_code == 415


def test_body_text_keeps_line_breaks_and_markup_as_text(client, admin):
    markup = '<script>alert(1)</script>\r\n<b>bold</b> & "quotes"'
    approve(client, admin, comment(client, body=markup).json["id"])
    assert client.get(URL).json["comments"][0]["body"] == '<script>alert(1)</script>\n<b>bold</b> & "quotes"'


def test_an_idempotency_key_makes_a_retry_return_the_same_comment(client):
    first = comment(client, headers={"Idempotency-Key": "retry-1"}, body="Once only")
    retry = comment(client, headers={"Idempotency-Key": "retry-1"}, body="Once only")
    assert retry.status_code == 202
    assert retry.json["id"] == first.json["id"]
    other_client = comment(client, ip="198.51.100.2", headers={"Idempotency-Key": "retry-1"}, body="Once only")
    assert other_client.json["id"] != first.json["id"]


@pytest.mark.parametrize("action", ["reject", "spam", "delete"])
def test_a_retry_never_tells_a_spammer_what_a_moderator_decided(client, admin, action):
    first = comment(client, headers={"Idempotency-Key": "caught"}, body="Buy now")
    decided = client.post(f"/api/v1/moderation/comments/{first.json['id']}", json={"action": action}, headers=admin)
    assert decided.status_code == 200
    retry = comment(client, headers={"Idempotency-Key": "caught"}, body="Buy now")
    assert (retry.status_code, retry.json) == (202, {"id": first.json["id"], "status": "pending", "edit_token": None})


def test_the_same_text_from_the_same_client_soon_after_is_the_same_comment(client, clock, admin):
    first = comment(client, body="Double click")
    again = comment(client, body="Double click")
    assert again.json["id"] == first.json["id"]
    clock.advance(601)
    later = comment(client, body="Double click")
    assert later.json["id"] != first.json["id"]
    queue = client.get("/api/v1/moderation/queue", headers=admin).json["comments"]
    assert len(queue) == 2


def test_a_filled_honeypot_is_answered_like_success_and_stores_nothing(client, admin):
    response = comment(client, subject="Buy cheap watches")
    assert response.status_code == 202
    posted = form(client, author="Bot", body="spam", subject="filled", return_to="https://blog.example/post")
    assert posted.status_code == 303
    assert client.get("/api/v1/moderation/queue", headers=admin).json["comments"] == []


def test_comments_are_rate_limited_per_ip_with_the_standard_429(client):
    for n in range(5):
        assert comment(client, body=f"Comment {n}").status_code == 202
    refused = comment(client, body="One too many")
    assert refused.status_code == 429
    assert refused.json["code"] == 429
    assert refused.headers["Retry-After"] == "50"
    assert refused.headers["RateLimit-Policy"] == '"comments";q=5;w=60'
    assert comment(client, ip="198.51.100.77", body="Another reader").status_code == 202


def test_retries_never_use_up_the_limit_and_a_retry_at_the_limit_still_gets_its_comment(client):
    first = comment(client, headers={"Idempotency-Key": "retry-2"}, body="Comment 0")
    for _ in range(6):
        assert comment(client, headers={"Idempotency-Key": "retry-2"}, body="Comment 0").json["id"] == first.json["id"]
    for n in range(1, 5):
        assert comment(client, body=f"Comment {n}").status_code == 202
    assert comment(client, body="One too many").status_code == 429
    at_the_limit = comment(client, headers={"Idempotency-Key": "retry-2"}, body="Comment 0")
    assert at_the_limit.status_code == 202 and at_the_limit.json["id"] == first.json["id"]


def test_comments_still_go_through_after_redis_forgets_its_scripts(client, redis_client, admin):
    first = comment(client, body="Before the restart")
    redis_client.script_flush()  # as after a Redis restart or a failover
    again = comment(client, body="Before the restart")
    assert again.json["id"] == first.json["id"]
    assert comment(client, body="After the restart").status_code == 202
    assert len(client.get("/api/v1/moderation/queue", headers=admin).json["comments"]) == 2


def test_the_daily_comment_limit_holds_across_minutes(settings, redis_client, clock):
    settings["COMMENT_RATE_LIMITS"] = ["5/minute", "7/day"]
    client = create_app(settings).test_client()
    for n in range(7):
        assert comment(client, body=f"Comment {n}").status_code == 202
        clock.advance(20)
    refused = comment(client, body="Too many today")
    assert refused.status_code == 429
    assert refused.headers["RateLimit-Policy"] == '"comments";q=7;w=86400'


def test_new_threads_are_bounded_per_client_a_day_not_site_wide(settings, redis_client, clock):
    settings["NEW_THREADS_PER_IP_PER_DAY"] = 2
    client = create_app(settings).test_client()
    for n, thread in enumerate(("one", "two")):
        response = client.post(f"/api/v1/threads/{thread}/comments", json={"author": "A", "body": f"b{n}"})
        assert response.status_code == 202
    refused = client.post("/api/v1/threads/three/comments", json={"author": "A", "body": "b3"})
    assert refused.status_code == 429
    assert "new articles" in refused.get_json()["message"]
    assert refused.headers["RateLimit-Policy"] == '"new threads";q=2;w=86400'
    # An existing thread takes the same client's comments; another client may start new ones.
    assert client.post("/api/v1/threads/one/comments", json={"author": "A", "body": "again"}).status_code == 202
    other = {"REMOTE_ADDR": "198.51.100.3"}
    assert (
        client.post(
            "/api/v1/threads/three/comments", json={"author": "A", "body": "b3"}, environ_base=other
        ).status_code
        == 202
    )
    clock.advance(86400)
    assert client.post("/api/v1/threads/four/comments", json={"author": "A", "body": "b4"}).status_code == 202


def test_a_surge_is_flagged_to_moderators_but_comments_keep_coming(settings, redis_client, admin, clock):
    settings["PENDING_SURGE_PER_HOUR"] = 2
    client = create_app(settings).test_client()
    for n in range(3):
        assert comment(client, ip=f"198.51.100.{n}", body=f"Surge {n}").status_code == 202
        clock.advance(1)
    queue = client.get("/api/v1/moderation/queue", headers=admin).json
    assert [c["signals"]["surge"] for c in queue["comments"]] == [False, False, True]
    assert queue["surge"] == {"active": True, "this_hour": 3, "ceiling": 2}


def test_thread_counts_for_list_pages(client, admin):
    approve(client, admin, comment(client).json["id"])
    comment(client, ip="198.51.100.1", body="still pending")
    response = client.get(f"/api/v1/threads?ids={THREAD},empty-thread")
    assert response.json == {"threads": [{"id": THREAD, "count": 1}, {"id": "empty-thread", "count": 0}]}
    assert client.get("/api/v1/threads?ids=" + ",".join(f"t{n}" for n in range(101))).status_code == 422


# -- plain HTML forms --------------------------------------------------------------


def test_a_form_post_from_an_allowed_page_redirects_back_with_a_pending_fragment(client):
    response = form(
        client,
        author="Bob",
        body="From a plain form",
        return_to="https://blog.example/2026/mini-backpacks?ref=home#comments",
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "https://blog.example/2026/mini-backpacks?ref=home#yaynay-comment-pending"


def test_a_form_post_may_return_to_the_services_own_pages(client):
    response = form(client, author="Bob", body="From the demo", return_to="http://localhost/embed/mini-backpacks")
    assert response.status_code == 303
    assert response.headers["Location"] == "http://localhost/embed/mini-backpacks#yaynay-comment-pending"


def test_a_form_post_falls_back_to_the_referer(client):
    response = form(
        client, author="Bob", body="Referer only", headers={"Referer": "https://blog.example/2026/mini-backpacks"}
    )
    assert response.status_code == 303
    assert response.headers["Location"].startswith("https://blog.example/2026/mini-backpacks#")


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/phish",
        "//evil.example/x",
        "javascript:alert(1)",
        "https://blog.example.evil.example/",
        "http://blog.example/",
    ],
)
def test_a_form_post_naming_another_origin_is_refused_and_not_stored(client, admin, target):
    response = form(client, author="Bob", body="Send me elsewhere", return_to=target)
    # Another site's page is not allowed (403); what is no http(s) page at all is invalid (422).
    assert response.status_code == (403 if target.startswith("http") else 422)
    assert "Location" not in response.headers
    assert b"Send me elsewhere" in response.data
    assert client.get("/api/v1/moderation/queue", headers=admin).json["comments"] == []


def test_a_form_post_with_bad_input_shows_the_form_again_with_the_text_kept(client, admin):
    typed = "I wrote a long thoughtful comment about <mini> backpacks & more.\nSecond paragraph."
    response = form(
        client,
        author="",
        email="not-an-email",
        body=typed,
        website="https://me.example",
        return_to="https://blog.example/post",
    )
    assert response.status_code == 422
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "I wrote a long thoughtful comment about &lt;mini&gt; backpacks &amp; more.\nSecond paragraph." in page
    assert 'value="https://me.example"' in page
    assert 'value="not-an-email"' in page
    assert "Name" in page and "Email" in page
    assert 'name="return_to" value="https://blog.example/post"' in page
    assert client.get("/api/v1/moderation/queue", headers=admin).json["comments"] == []


def test_a_rate_limited_form_post_keeps_the_text_too(client):
    for n in range(5):
        form(client, author="Bob", body=f"Form {n}", return_to="https://blog.example/post")
    response = form(client, author="Bob", body="Sixth and kept", return_to="https://blog.example/post")
    assert response.status_code == 429
    assert "Retry-After" in response.headers
    assert "Sixth and kept" in response.get_data(as_text=True)


def test_a_form_post_without_any_return_page_gets_a_confirmation(client):
    response = form(client, author="Bob", body="Where do I go?")
    assert response.status_code == 200
    assert "awaits moderation" in response.get_data(as_text=True)


def test_no_public_response_ever_contains_a_submitted_email(client, admin, make_poll):
    make_poll(THREAD)
    secret_email = "private.person@example.org"
    first = comment(client, email=secret_email, body="Public text")
    approve(client, admin, first.json["id"])
    comment(client, ip="198.51.100.5", email=secret_email, body="Pending text")
    form_post = form(client, author="F", email=secret_email, body="Form text", return_to="https://blog.example/p")
    bad_form = form(client, author="", email=secret_email, body="x")

    public = [
        first,
        form_post,
        client.get(URL),
        client.get(f"{URL}?limit=1"),
        client.get(f"/api/v1/threads?ids={THREAD}"),
        client.get(f"/api/v1/polls/{THREAD}"),
        client.get(f"/api/v1/polls?ids={THREAD}"),
        client.get("/openapi.json"),
        client.get("/healthz"),
        client.get("/readyz"),
        client.get(f"/embed/{THREAD}"),
        client.get("/"),
        client.get(f"/api/v1/polls/{THREAD}/badge.svg"),
    ]
    for response in public:
        assert secret_email not in response.get_data(as_text=True), response.request.path
        assert secret_email not in str(response.headers)
    # The reader's own form, shown back to them, is the one place their address may appear.
    assert secret_email in bad_form.get_data(as_text=True)
    assert secret_email in client.get("/api/v1/moderation/queue", headers=admin).get_data(as_text=True)


def test_a_form_posted_from_another_sites_page_is_refused(client, admin):
    foreign = form(
        client, author="Visitor", body="Posted by a page I never saw", headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert "Posted by a page I never saw" in foreign.get_data(as_text=True)
    publisher = form(
        client,
        ip="198.51.100.8",
        author="Reader",
        body="From the article",
        return_to="https://blog.example/a",
        headers={"Origin": "https://blog.example"},
    )
    assert publisher.status_code == 303
    assert [c["body"] for c in client.get("/api/v1/moderation/queue", headers=admin).json["comments"]] == [
        "From the article"
    ]


def test_a_form_returning_to_a_malformed_address_is_refused_not_a_server_error(client):
    response = form(client, author="Ann", body="Hello", return_to="https://(}]^/page")
    assert response.status_code == 403
