"""The iframe page keeps a reader's edit tokens in a cookie and offers edit and delete on their
own comments, as plain forms (POST and redirect), and shows them their own pending comment."""

import re

import pytest

from service.pages.embed import EDIT_COOKIE, EDIT_TOKENS_KEPT
from tests.conftest import ALLOWED_ORIGIN

POLL = "mini-backpacks"
PAGE = f"/embed/{POLL}"


@pytest.fixture
def poll(make_poll):
    return make_poll(POLL)


def comment(client, body="Tiny and useless. NAY.", ip="203.0.113.7", **headers):
    return client.post(
        f"{PAGE}/comments", data={"author": "Ann", "body": body}, environ_base={"REMOTE_ADDR": ip}, headers=headers
    )


def page_of(client) -> str:
    return client.get(PAGE).get_data(as_text=True)


def edit_cookie(client) -> str:
    cookie = client.get_cookie(EDIT_COOKIE, path="/embed/")
    return cookie.value if cookie else ""


def own_form(page: str, comment_id: str, what: str) -> dict[str, str]:
    """The action and proof of the edit or delete form of one comment on the page."""
    action = f"{PAGE}/comments/{comment_id}/{what}"
    start = page.index(f'action="{action}"')
    proof = re.search(r'name="proof" value="([0-9a-f]+)"', page[start:]).group(1)
    return {"action": action, "proof": proof}


def only_id(client) -> str:
    return edit_cookie(client).split(":")[0]


def approve(client, admin, comment_id):
    answer = client.post(f"/api/v1/moderation/comments/{comment_id}", json={"action": "approve"}, headers=admin)
    assert answer.status_code == 200, answer.json


def test_a_comment_from_the_iframe_page_sets_an_httponly_cookie_and_shows_as_awaiting(client, poll):
    posted = comment(client)
    assert posted.status_code == 303
    assert posted.headers["Location"].endswith(f"{PAGE}#yaynay-comment-pending")
    header = posted.headers["Set-Cookie"]
    assert header.startswith(f"{EDIT_COOKIE}=") and "HttpOnly" in header and "Path=/embed/" in header
    assert "SameSite=None" in header and "Secure" in header  # localhost: the development exception
    page = page_of(client)
    assert "Tiny and useless. NAY." in page and "Awaiting moderation" in page
    other_reader = client.application.test_client()
    assert "Tiny and useless. NAY." not in other_reader.get(PAGE).get_data(as_text=True)


def test_a_bad_comment_comes_back_on_the_page_with_the_text_kept(client, poll):
    answer = client.post(f"{PAGE}/comments", data={"author": "", "body": "Kept text"})
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert "Kept text" in page and 'aria-invalid="true"' in page
    assert edit_cookie(client) == ""


def test_the_reader_edits_within_the_window_and_then_may_only_delete(client, admin, poll, clock):
    comment(client)
    comment_id = only_id(client)
    approve(client, admin, comment_id)
    page = page_of(client)
    assert "Awaiting moderation" not in page
    form = own_form(page, comment_id, "edit")
    edited = client.post(form["action"], data={"body": "Tiny, but fine.", "proof": form["proof"]})
    assert edited.status_code == 303
    page = page_of(client)
    assert "Tiny, but fine." in page and "Awaiting moderation" in page  # back to the queue: pre-moderation
    approve(client, admin, comment_id)
    clock.advance(client.application.extensions["yaynay"].policy.edit_window + 1)
    page = page_of(client)
    assert f"{comment_id}/edit" not in page and f"{comment_id}/delete" in page
    late = client.post(form["action"], data={"body": "Too late.", "proof": form["proof"]})
    assert late.status_code == 409
    form = own_form(page, comment_id, "delete")
    assert client.post(form["action"], data={"proof": form["proof"]}).status_code == 303
    assert "Tiny, but fine." not in page_of(client)
    assert edit_cookie(client) == ""


def test_edit_and_delete_need_the_cookie_and_the_pages_proof(client, poll):
    comment(client)
    comment_id = only_id(client)
    form = own_form(page_of(client), comment_id, "delete")
    assert client.post(form["action"], data={"proof": "0" * 32}).status_code == 403
    foreign = client.post(form["action"], data=form, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    stranger = client.application.test_client()
    assert stranger.post(form["action"], data={"proof": form["proof"]}).status_code == 403
    assert "Tiny and useless. NAY." in page_of(client)
    assert (
        client.post(form["action"], data={"proof": form["proof"]}, headers={"Origin": ALLOWED_ORIGIN}).status_code
        == 303
    )


def test_the_cookie_keeps_only_the_newest_tokens(client, poll):
    for number in range(EDIT_TOKENS_KEPT + 3):
        assert comment(client, body=f"Comment number {number}", ip=f"203.0.113.{number}").status_code == 303
    entries = edit_cookie(client).split("|")
    assert len(entries) == EDIT_TOKENS_KEPT
    assert len(edit_cookie(client)) < 2048
    page = page_of(client)
    assert "Comment number 2<" not in page and f"Comment number {EDIT_TOKENS_KEPT + 2}<" in page


def test_a_forged_cookie_shows_nothing(client, poll):
    comment(client)
    comment_id = only_id(client)
    client.set_cookie(EDIT_COOKIE, f"{comment_id}:{'x' * 32}|nonsense|{comment_id}", path="/embed/")
    page = page_of(client)
    assert "Tiny and useless. NAY." not in page and "/delete" not in page
