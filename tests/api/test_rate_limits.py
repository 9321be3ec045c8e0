"""Abuse bounds on votes: per-IP rate, distinct voters per IP, trusted proxies."""

import pytest

from service import create_app


def vote(client, voter, choice="yay", ip="203.0.113.7", **headers):
    return client.post(
        "/api/v1/polls/mini-backpacks/votes",
        json={"choice": choice, "voter": voter},
        environ_base={"REMOTE_ADDR": ip},
        headers=headers,
    )


@pytest.fixture
def limited_client(settings, redis_client, make_poll):
    """A client whose votes are limited to 5 a minute and 3 new voters a day per IP."""
    settings.update(VOTE_RATE_LIMIT="5/minute", VOTERS_PER_IP_PER_DAY=3)
    client = create_app(settings).test_client()
    make_poll()
    return client


def test_votes_answer_429_exactly_after_the_configured_count(limited_client, new_voter):
    reader = new_voter()
    for hit in range(5):
        response = vote(limited_client, reader, choice=("yay", "nay")[hit % 2])
        assert response.status_code == 200, hit
        assert response.headers["X-RateLimit-Remaining"] == str(4 - hit)
    refused = vote(limited_client, reader)
    assert refused.status_code == 429
    assert refused.json["code"] == 429
    assert refused.headers["Retry-After"] == "50"
    assert refused.headers["RateLimit"] == '"votes";r=0;t=50'
    assert refused.headers["RateLimit-Policy"] == '"votes";q=5;w=60'


def test_the_limit_opens_again_in_the_next_window(limited_client, new_voter, clock):
    reader = new_voter()
    for _ in range(5):
        vote(limited_client, reader)
    assert vote(limited_client, reader).status_code == 429
    clock.advance(50)
    assert vote(limited_client, reader).status_code == 200


def test_each_client_ip_has_its_own_count(limited_client, new_voter):
    reader = new_voter()
    for _ in range(5):
        vote(limited_client, reader, ip="203.0.113.7")
    assert vote(limited_client, reader, ip="203.0.113.7").status_code == 429
    assert vote(limited_client, reader, ip="198.51.100.1").status_code == 200


def test_addresses_of_one_ipv6_network_share_a_count(limited_client, new_voter):
    reader = new_voter()
    for host in range(5):
        assert vote(limited_client, reader, ip=f"2001:db8:1:2::{host + 1}").status_code == 200
    assert vote(limited_client, reader, ip="2001:db8:1:2::ffff").status_code == 429


def test_a_spoofed_forwarded_for_does_not_dodge_the_limit(limited_client, new_voter):
    reader = new_voter()
    for hop in range(5):
        vote(limited_client, reader, **{"X-Forwarded-For": f"10.0.0.{hop}"})
    refused = vote(limited_client, reader, **{"X-Forwarded-For": "10.9.9.9"})
    assert refused.status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(settings, redis_client, make_poll, new_voter):
    settings.update(VOTE_RATE_LIMIT="2/minute", PROXY_HOPS=1)
    client = create_app(settings).test_client()
    make_poll()
    reader = new_voter()
    proxy = "192.0.2.10"
    # The client may prepend anything; only the entry the proxy appended is trusted.
    for _ in range(2):
        assert vote(client, reader, ip=proxy, **{"X-Forwarded-For": "1.1.1.1, 203.0.113.7"}).status_code == 200
    assert vote(client, reader, ip=proxy, **{"X-Forwarded-For": "8.8.8.8, 203.0.113.7"}).status_code == 429
    assert vote(client, reader, ip=proxy, **{"X-Forwarded-For": "203.0.113.99"}).status_code == 200


def test_distinct_new_voters_from_one_ip_are_bounded_per_day(limited_client, new_voter, clock):
    readers = [new_voter() for _ in range(3)]
    for reader in readers:
        assert vote(limited_client, reader).status_code == 200
    refused = vote(limited_client, new_voter())
    assert refused.status_code == 429
    assert refused.headers["RateLimit-Policy"] == '"new-voters";q=3;w=86400'
    assert int(refused.headers["Retry-After"]) == 86400 - 10
    # Readers already counted may still change their vote from there.
    assert vote(limited_client, readers[0], choice="nay").status_code == 200
    assert limited_client.get("/api/v1/polls/mini-backpacks").json["tally"] == {"yay": 2, "nay": 1, "total": 3}
    clock.advance(86400)
    assert vote(limited_client, new_voter()).status_code == 200


def test_rate_limit_keys_hold_no_raw_ip_and_expire(limited_client, new_voter, redis_client):
    vote(limited_client, new_voter(), ip="203.0.113.7")
    keys = [key.decode() for key in redis_client.keys("*")]
    assert keys
    assert not any("203.0.113.7" in key for key in keys)
    for key in keys:
        if ":rl:" in key or ":newvoters:" in key:
            assert 0 < redis_client.ttl(key) <= 90000
    values = b"".join(redis_client.dump(key) or b"" for key in keys)
    assert b"203.0.113.7" not in values
