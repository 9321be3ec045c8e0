"""Creating, updating and reading polls over HTTP."""

import datetime as dt


def test_an_admin_creates_a_poll_and_anyone_reads_it(client, admin):
    created = client.put(
        "/api/v1/polls/mini-backpacks", json={"question": "Are you YAY or NAY on mini backpacks?"}, headers=admin
    )
    assert created.status_code == 201

    poll = client.get("/api/v1/polls/mini-backpacks")
    assert poll.status_code == 200
    assert poll.json == {
        "id": "mini-backpacks",
        "question": "Are you YAY or NAY on mini backpacks?",
        "state": "open",
        "closes_at": None,
        "allow_change": True,
        "tally": {"yay": 0, "nay": 0, "total": 0},
        "percent": {"yay": 0, "nay": 0},
    }


def test_updating_a_poll_keeps_its_tally(client, admin, make_poll, new_voter):
    make_poll()
    client.post("/api/v1/polls/mini-backpacks/votes", json={"choice": "yay", "voter": new_voter()})
    updated = client.put(
        "/api/v1/polls/mini-backpacks",
        json={"question": "Mini backpacks: YAY or NAY?", "allow_change": False},
        headers=admin,
    )
    assert updated.status_code == 200
    assert updated.json["question"] == "Mini backpacks: YAY or NAY?"
    assert updated.json["allow_change"] is False
    assert updated.json["tally"] == {"yay": 1, "nay": 0, "total": 1}


def test_creating_a_poll_needs_the_admin_token(client):
    missing = client.put("/api/v1/polls/x", json={"question": "Q?"})
    wrong = client.put("/api/v1/polls/x", json={"question": "Q?"}, headers={"Authorization": "Bearer not-the-token"})
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json["code"] == 401
    assert client.get("/api/v1/polls/x").status_code == 404


def test_poll_settings_are_validated_by_field(client, admin):
    response = client.put(
        "/api/v1/polls/x",
        headers=admin,
        json={"question": " ", "closes_at": "next tuesday", "allow_change": "perhaps", "colour": "red"},
    )
    assert response.status_code == 422
    fields = response.json["errors"]["json"]
    assert set(fields) == {"question", "closes_at", "allow_change", "colour"}


def test_a_poll_id_outside_the_pattern_is_not_found(client, admin):
    for bad in ("Mini", "mini_backpacks", "a" * 65):
        response = client.put(f"/api/v1/polls/{bad}", json={"question": "Q?"}, headers=admin)
        assert response.status_code == 404
        assert response.json["code"] == 404
    assert client.put(f"/api/v1/polls/{'a' * 64}", json={"question": "Q?"}, headers=admin).status_code == 201


def test_a_poll_past_its_closing_time_reads_closed(client, admin, clock):
    closes = dt.datetime.fromtimestamp(clock.now + 60, dt.timezone.utc).isoformat()
    client.put("/api/v1/polls/x", json={"question": "Q?", "closes_at": closes}, headers=admin)
    assert client.get("/api/v1/polls/x").json["state"] == "open"
    clock.advance(60)
    assert client.get("/api/v1/polls/x").json["state"] == "closed"


def test_unknown_poll_is_a_json_404(client):
    response = client.get("/api/v1/polls/no-such-poll")
    assert response.status_code == 404
    assert response.json["code"] == 404
    assert "no-such-poll" in response.json["message"]


def test_the_etag_changes_with_the_tally_and_answers_304(client, make_poll, new_voter):
    make_poll()
    first = client.get("/api/v1/polls/mini-backpacks")
    assert first.headers["Cache-Control"] == "public, max-age=5"
    etag = first.headers["ETag"]
    assert not etag.startswith("W/")

    unchanged = client.get("/api/v1/polls/mini-backpacks", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.data == b""

    client.post("/api/v1/polls/mini-backpacks/votes", json={"choice": "nay", "voter": new_voter()})
    after_vote = client.get("/api/v1/polls/mini-backpacks", headers={"If-None-Match": etag})
    assert after_vote.status_code == 200
    assert after_vote.headers["ETag"] != etag
    assert after_vote.json["tally"]["nay"] == 1


def test_many_tallies_in_one_request_in_the_order_asked(client, make_poll, new_voter):
    make_poll("crocs")
    make_poll("mini-backpacks")
    client.post("/api/v1/polls/crocs/votes", json={"choice": "nay", "voter": new_voter()})

    response = client.get("/api/v1/polls?ids=mini-backpacks,nope,crocs,crocs")
    assert response.status_code == 200
    assert [poll["id"] for poll in response.json["polls"]] == ["mini-backpacks", "crocs"]
    assert response.json["polls"][1]["tally"] == {"yay": 0, "nay": 1, "total": 1}
    assert response.json["missing"] == ["nope"]
    assert "ETag" in response.headers


def test_many_tallies_refuses_more_than_100_ids_or_bad_ones(client):
    too_many = client.get("/api/v1/polls?ids=" + ",".join(f"p{i}" for i in range(101)))
    assert too_many.status_code == 422
    assert "ids" in too_many.json["errors"]["query"]

    bad = client.get("/api/v1/polls?ids=ok,NOT_OK")
    assert bad.status_code == 422
    assert "NOT_OK" in bad.json["errors"]["query"]["ids"][0]

    assert client.get("/api/v1/polls").status_code == 422
