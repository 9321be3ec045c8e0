"""Poll management, thread listing and tokens through the API: what the console and the CLI share."""

from service.store.keys import Keys

VOTER = "reader-token-0001"


def vote(client, poll_id, choice="yay", voter=VOTER):
    return client.post(f"/api/v1/polls/{poll_id}/votes", json={"choice": choice, "voter": voter})


def submit(client, thread="mini-backpacks", **fields):
    body = {"author": "Ann", "body": "Tiny and useless. NAY.", **fields}
    response = client.post(f"/api/v1/threads/{thread}/comments", json=body)
    assert response.status_code == 202, response.json
    return response.json["id"]


def test_admins_list_every_poll_newest_first_with_tallies_and_state(client, admin, make_poll, clock):
    for poll_id in ("first", "second", "third"):
        make_poll(poll_id)
        clock.advance(1)
    vote(client, "second")
    client.post("/api/v1/polls/first/close", headers=admin)

    page = client.get("/api/v1/admin/polls?limit=2", headers=admin).json
    assert [poll["id"] for poll in page["polls"]] == ["third", "second"]
    assert page["total"] == 3
    assert page["polls"][1]["tally"] == {"yay": 1, "nay": 0, "total": 1}
    assert page["polls"][1]["created_at"].startswith("2026-11-26T00:00:11")
    rest = client.get(f"/api/v1/admin/polls?limit=2&cursor={page['next_cursor']}", headers=admin).json
    assert [(poll["id"], poll["state"]) for poll in rest["polls"]] == [("first", "closed")]
    assert rest["next_cursor"] is None


def test_only_admins_list_polls_and_a_bad_cursor_is_named(client, admin):
    assert client.get("/api/v1/admin/polls").status_code == 401
    response = client.get("/api/v1/admin/polls?cursor=abc", headers=admin)
    assert response.status_code == 422
    assert "cursor" in response.json["errors"]["query"]


def test_closing_stops_votes_now_and_reopening_lets_them_in_again(client, admin, make_poll):
    make_poll()
    closed = client.post("/api/v1/polls/mini-backpacks/close", headers=admin)
    assert closed.status_code == 200
    assert closed.json["state"] == "closed"
    assert vote(client, "mini-backpacks").status_code == 409
    assert client.get("/api/v1/polls/mini-backpacks").json["state"] == "closed"  # the read cache knows

    reopened = client.post("/api/v1/polls/mini-backpacks/reopen", headers=admin)
    assert reopened.json["state"] == "open"
    assert reopened.json["closes_at"] is None
    assert vote(client, "mini-backpacks").status_code == 200


def test_closing_or_deleting_an_unknown_poll_is_a_404_and_makes_nothing(client, admin, redis_client):
    for method, path in (("post", "close"), ("post", "reopen")):
        assert getattr(client, method)(f"/api/v1/polls/ghost/{path}", headers=admin).status_code == 404
    assert client.delete("/api/v1/polls/ghost", headers=admin).status_code == 404
    assert redis_client.keys("*ghost*") == []


def test_deleting_a_poll_removes_its_tally_voters_and_registry_entry(client, admin, make_poll, redis_client):
    make_poll()
    make_poll("other")
    for n in range(20):
        vote(client, "mini-backpacks", voter=f"reader-token-{n:04d}")
    vote(client, "other")
    assert client.get("/api/v1/polls/mini-backpacks").status_code == 200  # cached now

    response = client.delete("/api/v1/polls/mini-backpacks", headers=admin)
    assert response.status_code == 204
    assert response.data == b""
    assert client.get("/api/v1/polls/mini-backpacks").status_code == 404
    keys = Keys("yaynay")
    left = [key.decode() for key in redis_client.keys("*")]
    assert not [key for key in left if key.startswith(keys.poll("mini-backpacks") + ":v")]
    assert keys.poll("mini-backpacks") not in left
    assert redis_client.zscore(keys.poll_registry("mini-backpacks"), "mini-backpacks") is None
    assert redis_client.zscore(keys.poll_registry("other"), "other") is not None
    assert redis_client.hlen(keys.voter_bucket("other", 0)) == 1


def test_poll_management_needs_the_admin_role(client, admin, make_poll):
    make_poll()
    moderator = client.post("/api/v1/tokens", json={"name": "mo", "role": "moderator"}, headers=admin).json["token"]
    as_moderator = {"Authorization": f"Bearer {moderator}"}
    assert client.post("/api/v1/polls/mini-backpacks/close", headers=as_moderator).status_code == 403
    assert client.delete("/api/v1/polls/mini-backpacks").status_code == 401
    assert client.get("/api/v1/tokens", headers=as_moderator).status_code == 403


def test_moderators_list_threads_with_counts_by_status_and_their_article(client, admin, clock):
    first = submit(client, page_url="https://blog.example/2026/mini-backpacks?utm=x")
    clock.advance(1)
    submit(client, body="Second", page_url="https://blog.example/elsewhere")
    client.post(f"/api/v1/moderation/comments/{first}", json={"action": "spam"}, headers=admin)
    clock.advance(1)
    submit(client, thread="crocs", body="Crocs!", page_url="https://evil.example/crocs")

    page = client.get("/api/v1/moderation/threads", headers=admin).json
    assert page["total"] == 2
    crocs, backpacks = page["threads"]
    assert crocs == {
        "id": "crocs",
        "first_comment_at": crocs["first_comment_at"],
        "counts": {"pending": 1, "approved": 0, "rejected": 0, "spam": 0},
        "page_url": None,  # not an allowed origin
    }
    assert backpacks["counts"] == {"pending": 1, "approved": 0, "rejected": 0, "spam": 1}
    assert backpacks["page_url"] == "https://blog.example/2026/mini-backpacks?utm=x"  # the first one stays


def test_the_queue_shows_the_parent_beside_a_reply_and_the_article(client, admin):
    parent = submit(client, body="Parent text", page_url="https://blog.example/a")
    client.post(f"/api/v1/moderation/comments/{parent}", json={"action": "approve"}, headers=admin)
    reply = submit(client, body="A reply", parent_id=parent)
    (entry,) = client.get("/api/v1/moderation/queue", headers=admin).json["comments"]
    assert entry["id"] == reply
    assert entry["parent"] == {"author": "Ann", "body": "Parent text", "status": "approved"}
    assert entry["page_url"] == "https://blog.example/a"


def test_a_page_url_must_be_a_web_address(client):
    response = client.post(
        "/api/v1/threads/t/comments", json={"author": "A", "body": "B", "page_url": "javascript:alert(1)"}
    )
    assert response.status_code == 422
    assert "page_url" in response.json["errors"]["json"]


def test_admins_create_list_and_revoke_tokens(client, admin):
    created = client.post("/api/v1/tokens", json={"name": "maria", "role": "moderator"}, headers=admin)
    assert created.status_code == 201
    token = created.json["token"]
    assert created.json["name"] == "maria" and created.json["role"] == "moderator"
    listed = client.get("/api/v1/tokens", headers=admin).json["tokens"]
    assert [(t["name"], t["role"]) for t in listed] == [("maria", "moderator")]
    assert "token" not in listed[0]
    assert client.get("/api/v1/moderation/queue", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    again = client.post("/api/v1/tokens", json={"name": "maria"}, headers=admin)
    assert again.status_code == 409  # the name is taken: a conflict with what exists
    assert client.post("/api/v1/tokens", json={"name": "x y"}, headers=admin).status_code == 422
    assert client.post("/api/v1/tokens", json={"name": "z", "role": "god"}, headers=admin).status_code == 422

    assert client.delete("/api/v1/tokens/maria", headers=admin).status_code == 204
    assert client.get("/api/v1/moderation/queue", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.delete("/api/v1/tokens/maria", headers=admin).status_code == 404
