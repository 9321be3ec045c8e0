"""Loading the Lua scripts: shared logic is included, not copied."""

from importlib.resources import files

from service.store.scripts import Scripts, script_source


def test_the_rate_limit_is_included_into_the_vote_script():
    source = script_source("cast_vote")
    assert not source.startswith("--!include")
    assert "local function rate_limit_hit" in source
    assert source.count("local function rate_limit_hit") == 1


def test_every_script_file_is_registered_under_its_name(redis_client):
    scripts = Scripts(redis_client).all()
    on_disk = {
        path.name.removesuffix(".lua")
        for path in files("service.store").joinpath("lua").iterdir()
        if path.name.endswith(".lua")
    }
    assert set(scripts) == on_disk
    for name, script in scripts.items():
        assert redis_client.script_load(script_source(name)) == script.sha
