"""Settings: defaults, a TOML file, then YAYNAY_* variables."""

import pytest

from service.ratelimit import RateLimit
from service.settings import ConfigError, load_settings


def test_defaults_then_file_then_environment(tmp_path):
    settings_file = tmp_path / "yaynay.toml"
    settings_file.write_text('vote_rate_limit = "10/minute"\nproxy_hops = 1\nallowed_origins = ["https://a.example"]\n')
    environ = {"YAYNAY_CONFIG": str(settings_file), "YAYNAY_PROXY_HOPS": "2",
               "YAYNAY_SECRET_KEY": "k", "YAYNAY_REDIS_URL": "redis://r:6379/0"}
    settings = load_settings(environ=environ)
    assert settings["VOTE_RATE_LIMIT"] == "10/minute"  # from the file
    assert settings["PROXY_HOPS"] == 2  # the environment wins over the file
    assert settings["ALLOWED_ORIGINS"] == ["https://a.example"]
    assert settings["VOTERS_PER_IP_PER_DAY"] == 20  # a default


def test_environment_values_take_the_type_of_the_default():
    settings = load_settings(environ={
        "YAYNAY_SECRET_KEY": "k", "YAYNAY_AUTO_CREATE_POLLS": "true", "YAYNAY_MAX_POLLS": "7",
        "YAYNAY_REDIS_SOCKET_TIMEOUT": "0.25", "YAYNAY_ALLOWED_ORIGINS": "https://a.example, https://b.example",
    })
    assert settings["AUTO_CREATE_POLLS"] is True
    assert settings["MAX_POLLS"] == 7
    assert settings["REDIS_SOCKET_TIMEOUT"] == 0.25
    assert settings["ALLOWED_ORIGINS"] == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize("name, value", [("YAYNAY_MAX_POLLS", "many"), ("YAYNAY_AUTO_CREATE_POLLS", "perhaps"),
                                         ("YAYNAY_VOTE_RATE_LIMIT", "lots")])
def test_a_bad_value_is_refused_by_name(name, value):
    with pytest.raises(ConfigError, match=name.removeprefix("YAYNAY_") if "RATE" not in name else "rate limit"):
        load_settings(environ={"YAYNAY_SECRET_KEY": "k", name: value})


def test_development_generates_a_secret_key_once(tmp_path):
    environ = {"YAYNAY_VAR_DIR": str(tmp_path)}
    first = load_settings(environ=environ)["SECRET_KEY"]
    assert len(first) >= 32
    assert load_settings(environ=environ)["SECRET_KEY"] == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_production_requires_a_secret_key_and_a_redis_url(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings(environ={"YAYNAY_ENV": "production", "YAYNAY_REDIS_URL": "redis://r"})
    with pytest.raises(ConfigError, match="REDIS_URL"):
        load_settings(environ={"YAYNAY_ENV": "production", "YAYNAY_SECRET_KEY": "k"})


def test_without_a_redis_url_the_embedded_redis_socket_is_used(tmp_path):
    settings = load_settings(environ={"YAYNAY_VAR_DIR": str(tmp_path), "YAYNAY_SECRET_KEY": "k"})
    assert settings["REDIS_EMBEDDED"] is True
    assert settings["REDIS_URL"] == f"unix://{tmp_path}/redis/redis.sock"


@pytest.mark.parametrize("text, expected", [("30/minute", (30, 60)), ("5 per second", (5, 1)),
                                            ("50/day", (50, 86400)), ("2 per hours", (2, 3600))])
def test_rate_limits_are_read_from_text(text, expected):
    limit = RateLimit.parse(text)
    assert (limit.count, limit.window) == expected


def test_the_example_settings_file_loads(tmp_path):
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "config" / "yaynay.example.toml"
    settings = load_settings(environ={"YAYNAY_CONFIG": str(example), "YAYNAY_SECRET_KEY": "k",
                                      "YAYNAY_REDIS_URL": "redis://r:6379/0"})
    assert settings["PROXY_HOPS"] == 1
    assert settings["ALLOWED_ORIGINS"] == ["https://blog.example", "https://www.blog.example"]
