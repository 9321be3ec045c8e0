"""What a comment post and a decision cost in round trips on a single Redis node, and the
blocklist version check that makes one round trip safe across processes."""

from service import create_app
from service.identity import email_digest
from tests.api.test_spam_tools import block, post_comment, queued
from tests.store.test_comments import round_trips_of


def test_a_comment_post_through_the_api_is_one_round_trip(settings, admin, monkeypatch):
    app = create_app(settings)
    client = app.test_client()
    assert post_comment(client, ip="198.51.100.1", body="Warms the scripts").status_code == 202

    page = "https://blog.example/2026/mini-backpacks"
    sent = round_trips_of(
        monkeypatch, lambda: post_comment(client, ip="198.51.100.2", email="ann@example.com", page_url=page)
    )
    assert sent == [b"evalsha"]  # as the widget posts: with the article's URL, recorded in the same script
    threads = client.get("/api/v1/moderation/threads", headers=admin).json["threads"]
    assert [thread["page_url"] for thread in threads] == [page]
    app.extensions["yaynay"].close()


def test_a_blocklist_change_made_by_another_process_applies_to_the_next_post(settings, admin, monkeypatch):
    posting, moderating = create_app(settings), create_app(settings)
    client = posting.test_client()
    assert post_comment(client, ip="198.51.100.1", body="Before any rule").status_code == 202  # lists loaded
    block(moderating.test_client(), admin, "word", "cheap pills")

    answer = {}
    sent = round_trips_of(
        monkeypatch, lambda: answer.update(post_comment(client, ip="198.51.100.2", body="Buy cheap pills now").json)
    )
    # The script answered "stale", the lists were reloaded, the comment screened again.
    assert sent == [b"evalsha", b"multi", b"evalsha"]
    assert queued(client, admin)[answer["id"]]["signals"]["held_reason"] == "blocklist word: cheap pills"
    for app in (posting, moderating):
        app.extensions["yaynay"].close()


def test_a_decision_counts_its_authors_trust_in_its_own_script(settings, redis_client, admin, monkeypatch):
    settings["TRUSTED_AFTER_APPROVED"] = 2
    app = create_app(settings)
    client = app.test_client()
    ids = [
        post_comment(client, ip=f"198.51.100.{n}", body=f"C{n}", email="ann@example.com").json["id"] for n in range(3)
    ]
    decide = "/api/v1/moderation/comments/{}"
    client.post(decide.format(ids[0]), json={"action": "approve"}, headers=admin)  # loads the script

    sent = round_trips_of(
        monkeypatch, lambda: client.post(decide.format(ids[1]), json={"action": "approve"}, headers=admin)
    )
    # The token, the author's digest, then the decision with its trust count in one script.
    assert sent.count(b"evalsha") == 1 and b"incr" not in sent and b"hgetall" not in sent
    trust = app.extensions["yaynay"].store.keys.trust(email_digest(settings["SECRET_KEY"], "ann@example.com"))
    assert redis_client.get(trust) == b"2"
    client.post(decide.format(ids[2]), json={"action": "spam"}, headers=admin)
    assert redis_client.get(trust) is None
    app.extensions["yaynay"].close()
