"""The iframe page and the badge tell the truth: links, plurals, dates' language, sorting, the resize target."""

import re

from service import create_app
from service.pages.embed import TextPart, link_parts

POLL = "mini-backpacks"
ALLOWED = "https://blog.example"


def published_client(settings):
    settings["MODERATION"] = "off"
    return create_app(settings).test_client()


def post(client, body, ip="203.0.113.7"):
    response = client.post(
        f"/api/v1/threads/{POLL}/comments", json={"author": "Ann", "body": body}, environ_base={"REMOTE_ADDR": ip}
    )
    assert response.status_code == 201, response.json


def test_a_body_splits_into_text_and_http_links_only():
    assert link_parts("see https://a.example/x?y=1, and javascript:alert(1) or ftp://f.example.") == [
        TextPart("see "),
        TextPart("https://a.example/x?y=1", "https://a.example/x?y=1"),
        TextPart(", and javascript:alert(1) or ftp://f.example."),
    ]
    assert link_parts("(http://b.example)") == [
        TextPart("("),
        TextPart("http://b.example", "http://b.example"),
        TextPart(")"),
    ]


def test_the_iframe_page_links_safely_and_escapes_the_rest(settings, redis_client, make_poll):
    client = published_client(settings)
    client.put(f"/api/v1/polls/{POLL}", json={"question": "Q?"}, headers={"Authorization": "Bearer test-admin-token"})
    post(client, 'Look: https://shop.example/bag?a=1&b="2" <b>bold</b>')
    page = client.get(f"/embed/{POLL}").get_data(as_text=True)
    assert '<a href="https://shop.example/bag?a=1&amp;b=" rel="nofollow ugc noopener">' in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold" not in page


def test_counts_are_worded_right_and_the_sort_is_offered(settings, redis_client, make_poll, clock):
    client = published_client(settings)
    client.put(f"/api/v1/polls/{POLL}", json={"question": "Q?"}, headers={"Authorization": "Bearer test-admin-token"})
    assert "No responses yet" in client.get(f"/embed/{POLL}").get_data(as_text=True)
    post(client, "first")
    assert ">1 Response<" in client.get(f"/embed/{POLL}").get_data(as_text=True)
    clock.advance(1)
    post(client, "second", ip="203.0.113.8")
    oldest = client.get(f"/embed/{POLL}").get_data(as_text=True)
    assert ">2 Responses<" in oldest
    assert oldest.index(">first<") < oldest.index(">second<")
    newest = client.get(f"/embed/{POLL}?sort=newest").get_data(as_text=True)
    assert newest.index(">second<") < newest.index(">first<")


def test_the_page_language_comes_from_lang_or_accept_language(client, make_poll):
    make_poll()
    assert '<html lang="de-AT">' in client.get(f"/embed/{POLL}?lang=de-AT").get_data(as_text=True)
    assert '<html lang="fr">' in client.get(f"/embed/{POLL}", headers={"Accept-Language": "fr;q=0.9"}).get_data(
        as_text=True
    )
    assert '<html lang="en">' in client.get(f'/embed/{POLL}?lang="><script>').get_data(as_text=True)


def test_the_height_is_posted_only_to_an_allowed_host(client, make_poll):
    make_poll()
    allowed = client.get(f"/embed/{POLL}?host={ALLOWED}").get_data(as_text=True)
    assert f'data-host="{ALLOWED}"' in allowed
    assert "data-host" not in client.get(f"/embed/{POLL}?host=https://evil.example").get_data(as_text=True)
    assert "data-host" not in client.get(f"/embed/{POLL}?host=javascript:x").get_data(as_text=True)


def test_a_form_vote_keeps_the_host_and_marks_the_choice_in_words(client, make_poll):
    make_poll()
    voted = client.post(f"/embed/{POLL}/vote?host={ALLOWED}", data={"choice": "nay"})
    assert voted.headers["Location"].endswith(f"/embed/{POLL}?host=https://blog.example#tally")
    page = client.get(f"/embed/{POLL}").get_data(as_text=True)
    assert re.search(r'class="nay" aria-pressed="true">NAY ✓ your vote</button>', page)


def test_the_resizer_script_is_served_like_the_widget(client):
    response = client.get("/embed.js")
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    assert "event.origin !== ORIGIN" in response.get_data(as_text=True)
    assert client.get("/embed.js", headers={"If-None-Match": response.headers["ETag"]}).status_code == 304


def badge(client):
    return client.get(f"/api/v1/polls/{POLL}/badge.svg").get_data(as_text=True)


def test_the_badge_counts_votes_in_words_and_is_neutral_at_zero(client, make_poll, new_voter):
    make_poll()
    empty = badge(client)
    assert "0 votes" in empty and "#1b7f3b" not in empty and "#b3261e" not in empty
    client.post(f"/api/v1/polls/{POLL}/votes", json={"choice": "yay", "voter": new_voter()})
    one = badge(client)
    assert ">1 vote<" in one and "1 votes" not in one
    client.post(f"/api/v1/polls/{POLL}/votes", json={"choice": "nay", "voter": new_voter()})
    two = badge(client)
    assert ">2 votes<" in two and 'fill="#b3261e"' in two and 'width="150.0"' in two
