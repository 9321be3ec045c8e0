"""The moderation queue, decisions one by one and in bulk, and the audit log."""

import pytest

QUEUE = "/api/v1/moderation/queue"


def submit(client, thread="mini-backpacks", ip="203.0.113.7", **fields):
    body = {"author": "Ann", "body": "Tiny and useless. NAY.", **fields}
    response = client.post(
        f"/api/v1/threads/{thread}/comments",
        json=body,
        environ_base={"REMOTE_ADDR": ip},
        headers={"User-Agent": "Mozilla/5.0 (test)"},
    )
    assert response.status_code == 202, response.json
    return response.json["id"]


def decide(client, headers, comment_id, action, **extra):
    return client.post(f"/api/v1/moderation/comments/{comment_id}", json={"action": action, **extra}, headers=headers)


def test_the_queue_shows_moderators_everything_they_need(client, admin, clock):
    comment_id = submit(
        client,
        email="ann@example.com",
        website="https://ann.example",
        body="See http://spam.example and www.more.example",
    )
    (entry,) = client.get(QUEUE, headers=admin).json["comments"]
    assert entry["id"] == comment_id
    assert entry["thread"] == "mini-backpacks"
    assert entry["status"] == "pending"
    assert entry["email"] == "ann@example.com"
    assert entry["website"] == "https://ann.example"
    assert entry["user_agent"] == "Mozilla/5.0 (test)"
    assert entry["ip_hash"] and "203.0.113.7" not in entry["ip_hash"]
    assert entry["submitted_at"].startswith("2026-11-26T00:00:10")
    assert entry["signals"] == {
        "links": 2,
        "same_text_before": 0,
        "recent_from_ip": 1,
        "surge": False,
        "held_reason": None,
    }


def test_signals_count_the_same_text_and_the_same_ip(client, admin, clock):
    for body, ip in (("Buy now", "198.51.100.1"), ("BUY   now", "198.51.100.2"), ("Something else", "198.51.100.2")):
        submit(client, body=body, ip=ip)
        clock.advance(1)
    entries = client.get(QUEUE, headers=admin).json["comments"]
    assert [e["signals"]["same_text_before"] for e in entries] == [1, 1, 0]
    assert [e["signals"]["recent_from_ip"] for e in entries] == [1, 1, 2]


def test_the_queue_is_oldest_first_and_pages_with_a_cursor(client, admin, clock):
    ids = []
    for n in range(5):
        ids.append(submit(client, ip=f"198.51.100.{n}", body=f"Comment {n}", thread=("a", "b")[n % 2]))
        if n != 2:  # two comments share a timestamp: the cursor must still not skip or repeat
            clock.advance(1)
    seen, cursor = [], None
    while True:
        page = client.get(QUEUE + "?limit=2" + (f"&cursor={cursor}" if cursor else ""), headers=admin).json
        seen += [entry["id"] for entry in page["comments"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    assert seen[0] == ids[0] and seen[-1] == ids[-1]


def test_the_queue_filters_by_status_and_thread(client, admin):
    a = submit(client, thread="a", ip="198.51.100.1")
    b = submit(client, thread="b", ip="198.51.100.2", body="other")
    decide(client, admin, a, "spam")
    assert [e["id"] for e in client.get(QUEUE + "?status=spam", headers=admin).json["comments"]] == [a]
    assert [e["id"] for e in client.get(QUEUE, headers=admin).json["comments"]] == [b]
    assert client.get(QUEUE + "?thread=a", headers=admin).json["comments"] == []
    assert [e["id"] for e in client.get(QUEUE + "?thread=a&status=spam", headers=admin).json["comments"]] == [a]
    assert client.get(QUEUE + "?status=everything", headers=admin).status_code == 422


@pytest.mark.parametrize(
    "action, status, public", [("approve", "approved", 1), ("reject", "rejected", 0), ("spam", "spam", 0)]
)
def test_a_decision_moves_the_comment_between_queue_and_listing(client, admin, action, status, public):
    comment_id = submit(client)
    response = decide(client, admin, comment_id, action, reason="house rules")
    assert response.status_code == 200
    assert response.json["status"] == status
    assert response.json["previous"] == "pending"
    assert response.json["moderator"] == "admin"
    assert client.get(QUEUE, headers=admin).json["comments"] == []
    assert [e["id"] for e in client.get(QUEUE + f"?status={status}", headers=admin).json["comments"]] == [comment_id]
    assert client.get("/api/v1/threads/mini-backpacks/comments").json["count"] == public
    (entry,) = client.get("/api/v1/moderation/log", headers=admin).json["entries"]
    assert (entry["comment_id"], entry["action"], entry["moderator"], entry["reason"]) == (
        comment_id,
        action,
        "admin",
        "house rules",
    )


def test_the_second_decision_on_a_comment_is_409_naming_the_one_that_stands(client, admin):
    comment_id = submit(client)
    assert decide(client, admin, comment_id, "approve", reason="fine").status_code == 200
    second = decide(client, admin, comment_id, "spam")
    assert second.status_code == 409
    assert second.json["standing"]["status"] == "approved"
    assert second.json["standing"]["decided_by"] == "admin"
    assert second.json["standing"]["reason"] == "fine"
    assert len(client.get("/api/v1/moderation/log", headers=admin).json["entries"]) == 1


def test_a_published_comment_can_be_taken_down_by_naming_its_status(client, admin):
    comment_id = submit(client)
    decide(client, admin, comment_id, "approve")
    taken_down = decide(client, admin, comment_id, "reject", **{"from": "approved"})
    assert taken_down.status_code == 200
    assert client.get("/api/v1/threads/mini-backpacks/comments").json["count"] == 0


def test_delete_removes_the_comment_everywhere(client, admin):
    comment_id = submit(client)
    decide(client, admin, comment_id, "approve")
    assert decide(client, admin, comment_id, "delete", **{"from": "approved"}).json["status"] == "deleted"
    assert client.get("/api/v1/threads/mini-backpacks/comments").json["count"] == 0
    for status in ("pending", "approved", "rejected", "spam"):
        assert client.get(QUEUE + f"?status={status}", headers=admin).json["comments"] == []
    assert decide(client, admin, comment_id, "approve").status_code == 404


def test_deciding_an_unknown_comment_is_404_and_a_bad_action_422(client, admin):
    assert decide(client, admin, "mini-backpacks.aaaaaaaa", "approve").status_code == 404
    comment_id = submit(client)
    bad = decide(client, admin, comment_id, "publish")
    assert bad.status_code == 422 and "action" in bad.json["errors"]["json"]
    assert (
        client.post("/api/v1/moderation/comments/not-an-id", json={"action": "approve"}, headers=admin).status_code
        == 404
    )


def test_bulk_decisions_report_each_outcome(client, admin):
    ids = [submit(client, ip=f"198.51.100.{n}", body=f"Bulk {n}") for n in range(3)]
    decide(client, admin, ids[2], "reject")
    response = client.post(
        "/api/v1/moderation/decisions",
        headers=admin,
        json={
            "decisions": [
                {"id": ids[0], "action": "approve"},
                {"id": ids[1], "action": "spam", "reason": "links"},
                {"id": ids[2], "action": "approve"},
                {"id": "mini-backpacks.zzzzzzzz", "action": "approve"},
            ]
        },
    )
    assert response.status_code == 200
    results = response.json["results"]
    assert [r["ok"] for r in results] == [True, True, False, False]
    assert results[1]["decision"]["status"] == "spam"
    assert results[2]["error"]["code"] == 409 and results[2]["standing"]["status"] == "rejected"
    assert results[3]["error"]["code"] == 404
    assert client.get("/api/v1/threads/mini-backpacks/comments").json["count"] == 1


def test_bulk_decisions_are_bounded_and_validated(client, admin):
    too_many = [{"id": f"t.{'a' * 8}", "action": "approve"}] * 101
    assert client.post("/api/v1/moderation/decisions", json={"decisions": too_many}, headers=admin).status_code == 422
    bad = client.post(
        "/api/v1/moderation/decisions", json={"decisions": [{"id": "x", "action": "nuke"}]}, headers=admin
    )
    assert bad.status_code == 422
    assert set(bad.json["errors"]["json"]["decisions"]["0"]) == {"id", "action"}


def test_the_log_is_newest_first_and_pages(client, admin, clock):
    ids = [submit(client, ip=f"198.51.100.{n}", body=f"Log {n}") for n in range(3)]
    for comment_id in ids:
        decide(client, admin, comment_id, "approve")
        clock.advance(1)
    first = client.get("/api/v1/moderation/log?limit=2", headers=admin).json
    rest = client.get(f"/api/v1/moderation/log?limit=2&cursor={first['next_cursor']}", headers=admin).json
    assert [e["comment_id"] for e in first["entries"] + rest["entries"]] == list(reversed(ids))
    assert rest["next_cursor"] is None


def test_moderation_needs_a_token(client):
    for response in (
        client.get(QUEUE),
        client.get("/api/v1/moderation/log"),
        client.post("/api/v1/moderation/decisions", json={"decisions": []}),
        client.get(QUEUE, headers={"Authorization": "Bearer wrong"}),
    ):
        assert response.status_code == 401
        assert response.json["code"] == 401


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/moderation/log?cursor=0-0",
        "/api/v1/moderation/log?cursor=not-a-cursor",
        "/api/v1/moderation/queue?cursor=abc",
        "/api/v1/moderation/queue?cursor=12",
        "/api/v1/moderation/queue?thread=a&cursor=12:a.aaaaaaaa",
    ],
)
def test_odd_cursors_are_a_422_or_an_empty_page_never_a_500(client, admin, path):
    response = client.get(path, headers=admin)
    assert response.status_code in (200, 422), response.json
    if response.status_code == 200:
        assert response.json.get("entries", response.json.get("comments")) == []
