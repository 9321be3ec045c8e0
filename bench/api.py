"""yaynay's public HTTP API, as the bench's setup calls it: one keep-alive connection, JSON in and out."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from dataclasses import dataclass


@dataclass(frozen=True)
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: object


class ApiError(RuntimeError):
    """The API answered something the bench's setup did not expect."""


class Api:
    """Calls the API at ``base_url``; ``admin=True`` sends the admin bearer token."""

    def __init__(self, base_url: str, admin_token: str):
        parts = urllib.parse.urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.admin_token = admin_token
        self._connection: http.client.HTTPConnection | None = None

    def request(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        *,
        admin: bool = False,
        headers: dict[str, str] | None = None,
        expect: tuple[int, ...] = (200,),
    ) -> Reply:
        """Send one request; ApiError unless the status is one of ``expect``."""
        headers = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if admin:
            headers["Authorization"] = f"Bearer {self.admin_token}"
        for attempt in (1, 2):
            try:
                connection = self._connection or http.client.HTTPConnection(self.host, self.port, timeout=30)
                self._connection = connection
                connection.request(method, path, body=data, headers=headers)
                response = connection.getresponse()
                raw = response.read()
                break
            except (ConnectionError, http.client.HTTPException):
                # gunicorn closes an idle keep-alive connection after a few seconds: reconnect once.
                self.close()
                if attempt == 2:
                    raise
        is_json = response.headers.get("Content-Type", "").startswith("application/json")
        reply = Reply(response.status, response.headers, json.loads(raw) if is_json and raw else raw)
        if reply.status not in expect:
            raise ApiError(f"{method} {path} answered {reply.status}, not {expect}: {raw[:300]!r}")
        return reply

    def close(self) -> None:
        if self._connection:
            self._connection.close()
            self._connection = None

    def create_poll(self, poll_id: str, question: str = "YAY or NAY?") -> None:
        self.request("PUT", f"/api/v1/polls/{poll_id}", {"question": question}, admin=True, expect=(200, 201))

    def vote(self, poll_id: str, voter: str, choice: str = "yay") -> dict:
        return self.request("POST", f"/api/v1/polls/{poll_id}/votes", {"choice": choice, "voter": voter}).body

    def post_comment(self, thread_id: str, **fields: str) -> str:
        """Submit a comment (held for moderation); its id."""
        reply = self.request("POST", f"/api/v1/threads/{thread_id}/comments", fields, expect=(201, 202))
        return reply.body["id"]

    def approve(self, comment_id: str) -> None:
        self.request("POST", f"/api/v1/moderation/comments/{comment_id}", {"action": "approve"}, admin=True)
