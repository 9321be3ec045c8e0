"""A reader edits and deletes their own comment with the edit token its submission answered."""

from service import create_app

THREAD = "mini-backpacks"
URL = f"/api/v1/threads/{THREAD}/comments"
MODERATION_QUEUE = "/api/v1/moderation/comments"


def post(client, ip="203.0.113.7", headers=None, **fields):
    body = {"author": "Ann", "body": "Tiny and useless. NAY.", **fields}
    return client.post(URL, json=body, environ_base={"REMOTE_ADDR": ip}, headers=headers or {})


def edit(client, comment_id, token, body="Tiny, and I was too harsh."):
    headers = {"Yaynay-Edit-Token": token} if token is not None else {}
    return client.patch(f"{URL}/{comment_id}", json={"body": body}, headers=headers)


def delete(client, comment_id, token):
    headers = {"Yaynay-Edit-Token": token} if token is not None else {}
    return client.delete(f"{URL}/{comment_id}", headers=headers)


def approve(client, admin, comment_id):
    response = client.post(f"{MODERATION_QUEUE}/{comment_id}", json={"action": "approve"}, headers=admin)
    assert response.status_code == 200, response.json


def pending_ids(client, admin):
    return [c["id"] for c in client.get("/api/v1/moderation/queue", headers=admin).json["comments"]]


def test_a_submission_answers_an_edit_token_that_redis_never_holds(client, redis_client):
    answer = post(client).json
    token = answer["edit_token"]
    assert len(token) >= 32
    comments = [key for key in redis_client.keys("*:comment:*") if redis_client.type(key) == b"hash"]
    assert comments
    stored = b" ".join(value for key in comments for value in redis_client.hvals(key))
    assert token.encode() not in stored


def test_a_retry_hands_out_no_second_token(client):
    first = post(client, headers={"Idempotency-Key": "k-1"}).json
    retry = post(client, headers={"Idempotency-Key": "k-1"}).json
    assert retry["id"] == first["id"]
    assert retry["edit_token"] is None


def test_the_author_edits_a_pending_comment_within_the_window(client, admin):
    answer = post(client).json
    response = edit(client, answer["id"], answer["edit_token"])
    assert response.status_code == 200, response.json
    assert response.json == {"id": answer["id"], "status": "pending"}
    approve(client, admin, answer["id"])
    (shown,) = client.get(URL).json["comments"]
    assert shown["body"] == "Tiny, and I was too harsh."
    assert shown["edited_at"] is not None


def test_an_edit_of_a_published_comment_waits_for_a_moderator_again(client, admin):
    answer = post(client).json
    approve(client, admin, answer["id"])
    assert client.get(URL).json["count"] == 1
    assert edit(client, answer["id"], answer["edit_token"]).json["status"] == "pending"
    assert client.get(URL).json == {"count": 0, "comments": [], "next_cursor": None}
    assert answer["id"] in pending_ids(client, admin)
    approve(client, admin, answer["id"])
    assert client.get(URL).json["comments"][0]["body"] == "Tiny, and I was too harsh."


def test_with_moderation_off_an_edit_stays_published(settings, redis_client):
    settings["MODERATION"] = "off"
    client = create_app(settings).test_client()
    answer = post(client).json
    assert edit(client, answer["id"], answer["edit_token"]).json["status"] == "approved"
    (shown,) = client.get(URL).json["comments"]
    assert shown["body"] == "Tiny, and I was too harsh." and shown["edited_at"]


def test_a_wrong_or_missing_token_is_refused(client):
    answer = post(client).json
    other = post(client, ip="203.0.113.8", body="Another comment").json
    for token in (None, "", other["edit_token"], "x" * 32):
        assert edit(client, answer["id"], token).status_code == 403
        assert delete(client, answer["id"], token).status_code == 403


def test_past_the_window_an_edit_is_409_but_a_delete_still_works(client, admin, clock):
    answer = post(client).json
    clock.advance(901)
    response = edit(client, answer["id"], answer["edit_token"])
    assert response.status_code == 409
    assert "no longer be edited" in response.json["message"]
    assert delete(client, answer["id"], answer["edit_token"]).status_code == 204
    assert answer["id"] not in pending_ids(client, admin)


def test_a_deleted_published_comment_leaves_the_page_and_the_log_says_by_whom(client, admin):
    answer = post(client).json
    approve(client, admin, answer["id"])
    assert delete(client, answer["id"], answer["edit_token"]).status_code == 204
    assert client.get(URL).json["count"] == 0
    assert delete(client, answer["id"], answer["edit_token"]).status_code == 404
    (latest, *_) = client.get("/api/v1/moderation/log", headers=admin).json["entries"]
    assert (latest["comment_id"], latest["action"], latest["reason"]) == (answer["id"], "delete", "deleted by author")


def test_a_comment_of_another_thread_is_not_found(client):
    answer = post(client).json
    key = answer["id"].rpartition(".")[2]
    assert edit(client, f"other-thread.{key}", answer["edit_token"]).status_code == 404
    response = client.patch(f"/api/v1/threads/other-thread/comments/{answer['id']}", json={"body": "x"})
    assert response.status_code == 404


def test_an_edit_body_is_checked_like_a_new_one(client):
    answer = post(client).json
    assert edit(client, answer["id"], answer["edit_token"], body="   ").status_code == 422
    assert edit(client, answer["id"], answer["edit_token"], body="x" * 5001).status_code == 422


def test_the_edit_token_header_is_allowed_cross_origin(client, settings):
    origin = settings["ALLOWED_ORIGINS"][0]
    response = client.options(
        f"{URL}/{THREAD}.abcdefgh",
        headers={"Origin": origin, "Access-Control-Request-Method": "PATCH"},
    )
    assert "Yaynay-Edit-Token" in response.headers["Access-Control-Allow-Headers"]
    assert "PATCH" in response.headers["Access-Control-Allow-Methods"]


def test_comments_read_newest_first_with_cursors(settings, redis_client, clock):
    settings["MODERATION"] = "off"
    client = create_app(settings).test_client()
    for n in range(5):
        post(client, ip=f"203.0.113.{n}", body=f"Comment {n}")
        clock.advance(1)
    seen, cursor = [], None
    while True:
        page = client.get(URL, query_string={"sort": "newest", "limit": 2, **({"cursor": cursor} if cursor else {})})
        seen += [c["body"] for c in page.json["comments"]]
        cursor = page.json["next_cursor"]
        if not cursor:
            break
    assert seen == [f"Comment {n}" for n in (4, 3, 2, 1, 0)]
    oldest = client.get(URL, query_string={"sort": "oldest"}).json["comments"]
    assert [c["body"] for c in oldest] == [f"Comment {n}" for n in range(5)]
    assert client.get(URL, query_string={"sort": "random"}).status_code == 422
