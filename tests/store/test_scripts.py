"""Loading the Lua scripts: shared logic is included, not copied."""

from service.store.scripts import Scripts, script_source


def test_the_rate_limit_is_included_into_the_vote_script():
    source = script_source("vote")
    assert not source.startswith("--!include")
    assert "local function rate_limit_hit" in source
    assert source.count("local function rate_limit_hit") == 1


def test_every_script_loads_into_redis(redis_client):
    scripts = Scripts(redis_client)
    for name in Scripts.NAMES:
        sha = redis_client.script_load(script_source(name))
        assert getattr(scripts, name).sha == sha
