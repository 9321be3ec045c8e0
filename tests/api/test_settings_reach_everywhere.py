"""A setting is honoured everywhere it applies: the comment lengths and the honeypot field
reach the schema, both forms, the widget and the OpenAPI document."""

import re

import pytest

from service import create_app
from service.schemas import COMMENT_ID_PATTERN

URL = "/api/v1/threads/mini-backpacks/comments"


@pytest.fixture
def short_comments(settings, redis_client):
    app = create_app(
        {**settings, "COMMENT_AUTHOR_MAX_LENGTH": 12, "COMMENT_BODY_MAX_LENGTH": 40, "HONEYPOT_FIELD": "nickname"}
    )
    yield app.test_client()
    app.extensions["yaynay"].close()


def test_the_api_refuses_a_comment_over_the_configured_lengths(short_comments):
    refused = short_comments.post(URL, json={"author": "A" * 13, "body": "B" * 41})
    assert refused.status_code == 422
    assert refused.json["errors"]["json"]["author"] == ["Must be at most 12 characters."]
    assert refused.json["errors"]["json"]["body"] == ["Must be at most 40 characters."]
    assert short_comments.post(URL, json={"author": "A" * 12, "body": "B" * 40}).status_code == 202


def test_the_openapi_document_shows_the_configured_lengths(short_comments):
    submit = short_comments.get("/openapi.json").json["components"]["schemas"]["CommentSubmit"]["properties"]
    assert (submit["author"]["minLength"], submit["author"]["maxLength"]) == (1, 12)
    assert (submit["body"]["minLength"], submit["body"]["maxLength"]) == (1, 40)


def test_the_forms_carry_the_configured_lengths_and_honeypot(short_comments, make_poll, client):
    refused = short_comments.post(URL, data={"author": "", "body": "kept"})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert 'maxlength="12"' in page and 'maxlength="40"' in page
    assert 'name="nickname"' in page and 'name="subject"' not in page
    make_poll()
    embed = short_comments.get("/embed/mini-backpacks").get_data(as_text=True)
    assert 'maxlength="12"' in embed and 'maxlength="40"' in embed and 'name="nickname"' in embed


def test_the_widget_carries_the_configured_lengths_and_changes_version_with_them(short_comments, client):
    widget = short_comments.get("/widget.js")
    assert b'/*yaynay:lengths*/{"author": 12, "body": 40, "edit": 900}' in widget.data
    default = client.get("/widget.js")
    assert b'/*yaynay:lengths*/{"author": 80, "body": 5000, "edit": 900}' in default.data
    assert widget.headers["ETag"] != default.headers["ETag"]


def test_the_configured_honeypot_catches_bots_with_an_id_like_any_other(short_comments):
    caught = short_comments.post(URL, json={"author": "Bot", "body": "spam", "honeypot": "x"})
    assert caught.status_code == 202
    real = short_comments.post(URL, json={"author": "Ann", "body": "A real comment"})
    for answer in (caught, real):
        assert re.match(COMMENT_ID_PATTERN, answer.json["id"]), answer.json


def test_the_widget_carries_the_edit_window(settings, redis_client):
    settings["EDIT_WINDOW"] = 60
    widget = create_app(settings).test_client().get("/widget.js")
    assert b'"edit": 60}' in widget.data


def test_the_configured_events_interval_paces_the_change_feed(settings, redis_client):
    settings["EVENTS_INTERVAL"] = 1.5
    app = create_app(settings)
    assert app.extensions["yaynay"].store.changes.interval == 1.5
    app.extensions["yaynay"].close()
