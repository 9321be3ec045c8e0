"""Casting, repeating and changing votes over HTTP."""

import datetime as dt

import pytest


def vote(client, choice, voter, poll_id="mini-backpacks", **kwargs):
    return client.post(f"/api/v1/polls/{poll_id}/votes", json={"choice": choice, "voter": voter}, **kwargs)


def test_a_new_vote_counts(client, make_poll, new_voter):
    make_poll()
    response = vote(client, "yay", new_voter())
    assert response.status_code == 200
    assert response.json == {
        "poll_id": "mini-backpacks",
        "vote": "yay",
        "changed": False,
        "tally": {"yay": 1, "nay": 0, "total": 1},
        "percent": {"yay": 100, "nay": 0},
    }


def test_the_same_choice_again_changes_nothing(client, make_poll, new_voter):
    make_poll()
    reader = new_voter()
    vote(client, "yay", reader)
    again = vote(client, "yay", reader)
    assert again.json["tally"] == {"yay": 1, "nay": 0, "total": 1}
    assert again.json["changed"] is False


def test_changing_a_vote_moves_it_between_tallies(client, make_poll, new_voter):
    make_poll()
    reader, other = new_voter(), new_voter()
    vote(client, "yay", other)
    vote(client, "yay", reader)
    changed = vote(client, "nay", reader)
    assert changed.json["changed"] is True
    assert changed.json["vote"] == "nay"
    assert changed.json["tally"] == {"yay": 1, "nay": 1, "total": 2}
    assert changed.json["percent"] == {"yay": 50, "nay": 50}
    assert client.get("/api/v1/polls/mini-backpacks").json["tally"] == {"yay": 1, "nay": 1, "total": 2}


def test_percentages_round_to_a_hundred(client, make_poll, new_voter):
    make_poll()
    vote(client, "yay", new_voter())
    vote(client, "nay", new_voter())
    response = vote(client, "nay", new_voter())
    assert response.json["percent"] == {"yay": 33, "nay": 67}


def test_a_poll_that_forbids_changes_answers_409_and_keeps_the_vote(client, make_poll, new_voter):
    make_poll(allow_change=False)
    reader = new_voter()
    vote(client, "yay", reader)
    refused = vote(client, "nay", reader)
    assert refused.status_code == 409
    assert "yay" in refused.json["message"]
    assert "choice" in refused.json["errors"]["json"]
    assert vote(client, "yay", reader).status_code == 200
    assert client.get("/api/v1/polls/mini-backpacks").json["tally"] == {"yay": 1, "nay": 0, "total": 1}


def test_a_closed_poll_answers_409(client, make_poll, new_voter, clock):
    closes = dt.datetime.fromtimestamp(clock.now + 30, dt.timezone.utc).isoformat()
    make_poll(closes_at=closes)
    assert vote(client, "yay", new_voter()).status_code == 200
    clock.advance(30)
    closed = vote(client, "nay", new_voter())
    assert closed.status_code == 409
    assert "closed" in closed.json["message"]
    assert client.get("/api/v1/polls/mini-backpacks").json["tally"]["total"] == 1


def test_an_unknown_poll_is_404_by_default(client, new_voter):
    response = vote(client, "yay", new_voter(), poll_id="never-made")
    assert response.status_code == 404
    assert client.get("/api/v1/polls/never-made").status_code == 404


def test_auto_create_makes_the_poll_on_first_vote_up_to_the_ceiling(settings, redis_client, new_voter):
    from service import create_app

    settings.update(AUTO_CREATE_POLLS=True, MAX_POLLS=2)
    client = create_app(settings).test_client()
    assert vote(client, "yay", new_voter(), poll_id="first").status_code == 200
    assert vote(client, "nay", new_voter(), poll_id="second").status_code == 200
    refused = vote(client, "yay", new_voter(), poll_id="third")
    assert refused.status_code == 409
    assert "as many polls" in refused.json["message"]
    assert vote(client, "yay", new_voter(), poll_id="first").json["tally"]["yay"] == 2
    assert client.get("/api/v1/polls/first").json["state"] == "open"
    assert client.get("/api/v1/polls/third").status_code == 404


def test_auto_created_polls_count_against_a_daily_budget_of_each_client_ip(
    settings, redis_client, new_voter, clock, caplog
):
    from service import create_app

    settings.update(AUTO_CREATE_POLLS=True, MAX_POLLS=100, AUTO_CREATE_POLLS_PER_IP_PER_DAY=2)
    app = create_app(settings)
    client = app.test_client()
    assert vote(client, "yay", new_voter(), poll_id="one").status_code == 200
    assert vote(client, "yay", new_voter(), poll_id="two").status_code == 200
    assert vote(client, "yay", new_voter(), poll_id="one").status_code == 200  # votes on existing polls are free

    with caplog.at_level("WARNING", logger="service.store.polls"):
        refused = vote(client, "yay", new_voter(), poll_id="three")
    assert refused.status_code == 429
    assert "created 2 polls" in refused.json["message"]
    assert int(refused.headers["Retry-After"]) > 0
    [record] = caplog.records
    assert "three" in record.getMessage()
    assert "127.0.0.1" not in record.getMessage()  # the IP's keyed digest, never the address
    assert client.get("/api/v1/polls/three").status_code == 404

    other = client.post(
        "/api/v1/polls/three/votes",
        json={"choice": "nay", "voter": new_voter()},
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    assert other.status_code == 200  # another network has its own budget
    clock.advance(86400)
    assert vote(client, "yay", new_voter(), poll_id="four").status_code == 200  # a new day, a new budget
    app.extensions["yaynay"].close()


def test_a_vote_refused_at_the_poll_ceiling_gives_back_its_daily_budget(settings, redis_client, new_voter):
    from service import create_app

    settings.update(AUTO_CREATE_POLLS=True, MAX_POLLS=1, AUTO_CREATE_POLLS_PER_IP_PER_DAY=2)
    app = create_app(settings)
    client = app.test_client()
    assert vote(client, "yay", new_voter(), poll_id="one").status_code == 200
    for _ in range(3):
        assert vote(client, "yay", new_voter(), poll_id="two").status_code == 409  # never 429
    app.extensions["yaynay"].close()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"choice": "maybe", "voter": "a" * 20}, "choice"),
        ({"choice": "YAY", "voter": "a" * 20}, "choice"),
        ({"voter": "a" * 20}, "choice"),
        ({"choice": "yay"}, "voter"),
        ({"choice": "yay", "voter": "short"}, "voter"),
        ({"choice": "yay", "voter": "a" * 65}, "voter"),
        ({"choice": "yay", "voter": "has spaces in it ok"}, "voter"),
        ({"choice": "yay", "voter": 12345678901234567890}, "voter"),
        ({"choice": "yay", "voter": "a" * 20, "weight": 100}, "weight"),
    ],
)
def test_a_bad_ballot_is_422_naming_the_field(client, make_poll, body, field):
    make_poll()
    response = client.post("/api/v1/polls/mini-backpacks/votes", json=body)
    assert response.status_code == 422
    assert field in response.json["errors"]["json"]
    assert client.get("/api/v1/polls/mini-backpacks").json["tally"]["total"] == 0


def test_the_vote_answer_carries_rate_limit_headers(client, make_poll, new_voter):
    make_poll()
    response = vote(client, "yay", new_voter())
    assert response.headers["RateLimit-Policy"] == '"votes";q=30;w=60'
    assert response.headers["RateLimit"] == '"votes";r=29;t=50'
    assert response.headers["X-RateLimit-Remaining"] == "29"
