"""One way in and one way out of every view.

``takes`` and ``answers`` document a view in the OpenAPI document the way
flask-smorest's ``arguments`` and ``response`` do (they attach the same ``_apidoc``),
but load and dump without flask-smorest's wrappers and webargs: on the vote path those
layers cost more than the Redis round trip, and on a cached read more than the read.

    @blp.route("/<resource_id:poll_id>/votes")
    class PollVotes(MethodView):
        @answers(blp, 200, VoteResultSchema())
        @takes(blp, VoteSchema())
        def post(self, ballot, poll_id): ...

A view returns what its schema dumps (optionally with a status code and headers), a
``Rendered`` public answer (ETag, 304, cache headers), or a finished ``Response`` (HTML
pages, redirects).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from flask import Response, request
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError
from werkzeug.wrappers import Response as BaseResponse

from service.api.caching import Rendered, public_json
from service.api.context import requires
from service.api.errors import InvalidFields, InvalidJson, UnsupportedMediaType
from service.api.openapi import BEARER_AUTH
from service.schemas import ErrorSchema

FORM = "application/x-www-form-urlencoded"
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _documented(apidoc: dict[str, Any], decorator: Callable[..., Any]) -> dict[str, Any]:
    """``apidoc`` with what flask-smorest's ``decorator`` adds to a view's ``_apidoc``, without its wrapper."""

    def stand_in(*args: Any, **kwargs: Any) -> None:
        return None

    stand_in._apidoc = apidoc  # type: ignore[attr-defined]
    return decorator(stand_in)._apidoc


def _apidoc(view: Callable[..., Any]) -> dict[str, Any]:
    return getattr(view, "_apidoc", {})


def load_json(schema: Schema) -> Any:
    """The JSON body as ``schema`` loads it: 415 when it is not sent as JSON, 400 when it is not
    JSON (or nested too deep to parse), 422 naming each bad field."""
    if not request.is_json:
        raise UnsupportedMediaType()
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw) if raw else {}
    # RecursionError: a body nested about a thousand levels deep is small yet too deep to parse.
    except (ValueError, RecursionError):  # ValueError also covers UnicodeDecodeError
        raise InvalidJson() from None
    try:
        return schema.load(data)
    except ValidationError as error:
        raise InvalidFields({"json": error.messages}) from None
    except RecursionError:  # nesting that parsed but that a schema walks too deep
        raise InvalidJson() from None


def load_query(schema: Schema) -> Any:
    """The query string as ``schema`` loads it (first value of each name): 422 naming each bad one."""
    try:
        return schema.load(request.args.to_dict())
    except ValidationError as error:
        raise InvalidFields({"query": error.messages}) from None


_LOADERS = {"json": load_json, "query": load_query}


def takes(
    blp: Blueprint,
    schema: Schema,
    *,
    location: str = "json",
    forms: Schema | None = None,
    configured: Callable[[], Schema] | None = None,
    **doc: Any,
) -> Decorator:
    """Document ``schema`` as the view's input and load it before the view runs.

    The loaded input is passed after ``self``. ``configured`` gives the app's own instance
    of the schema when settings shape it (lengths, field names). ``forms`` (a schema) also
    documents the body as a plain HTML form; a form post then reaches the view unparsed
    (as None), for the view to answer in HTML.
    """
    loader = _LOADERS[location]

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        if forms is not None:
            apidoc = _documented(
                _apidoc(view),
                blp.doc(
                    requestBody={
                        "required": True,
                        "content": {"application/json": {"schema": type(schema)}, FORM: {"schema": type(forms)}},
                    }
                ),
            )
        else:
            apidoc = _documented(_apidoc(view), blp.arguments(schema, location=location, **doc))

        @functools.wraps(view)
        def load_then_view(self: Any, *args: Any, **kwargs: Any) -> Any:
            data = (
                None
                if forms is not None and request.mimetype == FORM
                else loader(configured() if configured else schema)
            )
            return view(self, data, *args, **kwargs)

        load_then_view._apidoc = apidoc  # type: ignore[attr-defined]
        return load_then_view

    return decorator


def answers(
    blp: Blueprint,
    status: int,
    schema: Schema | None = None,
    *,
    content_type: str | None = None,
    alternatives: dict[int, str] | None = None,
    pages: dict[int, str] | None = None,
    etag: bool = False,
    **doc: Any,
) -> Decorator:
    """Document the view's answer (``status`` with ``schema``, or a ``content_type`` other than
    JSON; ``alternatives``: other status codes with what they mean; ``pages``: status codes
    answered with an HTML page, to form posts; ``etag``: a public read that answers 304 to
    its ETag), and send what the view returns through ``answer``."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        if content_type:
            documenting = blp.doc(
                responses={
                    str(status): {
                        "description": doc.get("description", ""),
                        "content": {content_type: {"schema": {"type": "string"}}},
                    }
                }
            )
        else:
            documenting = blp.response(status, schema, **doc)
        apidoc = _documented(_apidoc(view), documenting)
        for code, description in (alternatives or {}).items():
            # Refusals carry the one error shape; other alternatives (201, 303, 304) their own or none.
            body = ErrorSchema if code >= 400 else (schema if code < 300 else None)
            apidoc = _documented(apidoc, blp.alt_response(code, schema=body, description=description))
        if etag:  # flask-smorest documents If-None-Match, the ETag header and 304 from this
            apidoc = {**apidoc, "etag": True}
        if pages:
            # A form post's answers are HTML pages; a status that JSON answers too keeps its error shape.
            def content(code: int) -> dict[str, Any]:
                html = {"text/html": {"schema": {"type": "string"}}}
                return {**html, "application/json": {"schema": ErrorSchema}} if code in (alternatives or {}) else html

            responses = {str(code): {"description": text, "content": content(code)} for code, text in pages.items()}
            apidoc = _documented(apidoc, blp.doc(responses=responses))

        @functools.wraps(view)
        def view_then_answer(*args: Any, **kwargs: Any) -> BaseResponse:
            return answer(view(*args, **kwargs), schema, status)

        view_then_answer._apidoc = apidoc  # type: ignore[attr-defined]
        return view_then_answer

    return decorator


def answer(result: Any, schema: Schema | None, status: int = 200) -> BaseResponse:
    """The one way out: a Response as is; a Rendered public answer with its ETag; else the data
    (or ``(data, status)``, ``(data, status, headers)``) dumped by ``schema`` as JSON; a 204 has no body."""
    if isinstance(result, BaseResponse):
        return result
    if isinstance(result, Rendered):
        return public_json(result)
    headers: dict[str, str] = {}
    if isinstance(result, tuple):
        result, status, *rest = result
        headers = rest[0] if rest else {}
    if status == 204:  # No Content: nothing to dump
        return Response(status=204, headers=headers)
    body = schema.dumps(result) if schema is not None else json.dumps(result)
    return Response(body, status=status, mimetype="application/json", headers=headers)


def needs(blp: Blueprint, role: str) -> Decorator:
    """Let the view run only for a bearer token of ``role`` or higher (401 without one, 403
    below it; the holder is ``caller()``), and document both in the OpenAPI document."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        apidoc = _documented(_apidoc(view), blp.doc(security=BEARER_AUTH))
        apidoc = _documented(apidoc, blp.alt_response(401, schema=ErrorSchema, description="No valid bearer token."))
        refused = f"The token's role is below {role}."
        apidoc = _documented(apidoc, blp.alt_response(403, schema=ErrorSchema, description=refused))
        guarded = requires(role)(view)
        guarded._apidoc = apidoc  # type: ignore[attr-defined]
        return guarded

    return decorator
