"""Settings: defaults, a TOML file, then YAYNAY_* variables, all checked against one table."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from service.cli import main
from service.ratelimit import RateLimit
from service.settings import TABLE, ConfigError, load_settings, markdown_table, toml_defaults

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_then_file_then_environment(tmp_path):
    settings_file = tmp_path / "yaynay.toml"
    settings_file.write_text('vote_rate_limit = "10/minute"\nproxy_hops = 1\nallowed_origins = ["https://a.example"]\n')
    environ = {
        "YAYNAY_CONFIG": str(settings_file),
        "YAYNAY_PROXY_HOPS": "2",
        "YAYNAY_SECRET_KEY": "k",
        "YAYNAY_REDIS_URL": "redis://r:6379/0",
    }
    settings = load_settings(environ=environ)
    assert settings["VOTE_RATE_LIMIT"] == "10/minute"  # from the file
    assert settings["PROXY_HOPS"] == 2  # the environment wins over the file
    assert settings["ALLOWED_ORIGINS"] == ["https://a.example"]
    assert settings["VOTERS_PER_IP_PER_DAY"] == 20  # a default


def test_environment_values_take_the_type_of_the_default():
    settings = load_settings(
        environ={
            "YAYNAY_SECRET_KEY": "k",
            "YAYNAY_AUTO_CREATE_POLLS": "true",
            "YAYNAY_MAX_POLLS": "7",
            "YAYNAY_REDIS_SOCKET_TIMEOUT": "0.25",
            "YAYNAY_ALLOWED_ORIGINS": "https://a.example, https://b.example",
        }
    )
    assert settings["AUTO_CREATE_POLLS"] is True
    assert settings["MAX_POLLS"] == 7
    assert settings["REDIS_SOCKET_TIMEOUT"] == 0.25
    assert settings["ALLOWED_ORIGINS"] == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize(
    "name, value",
    [
        ("YAYNAY_MAX_POLLS", "many"),
        ("YAYNAY_AUTO_CREATE_POLLS", "perhaps"),
        ("YAYNAY_VOTE_RATE_LIMIT", "lots"),
        ("YAYNAY_EVENTS_INTERVAL", "0"),  # a stream flushed without a pause would spin
    ],
)
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


def test_sentinels_replace_the_redis_url_and_are_checked_at_start():
    settings = load_settings(
        environ={
            "YAYNAY_ENV": "production",
            "YAYNAY_SECRET_KEY": "k",
            "YAYNAY_REDIS_SENTINELS": "sentinel-1:26379, sentinel-2:26379",
        }
    )
    assert settings["REDIS_SENTINELS"] == ["sentinel-1:26379", "sentinel-2:26379"]
    assert settings["REDIS_SENTINEL_MASTER"] == "mymaster" and settings["REDIS_EMBEDDED"] is False
    with pytest.raises(ConfigError, match="REDIS_SENTINELS"):
        load_settings(environ={"YAYNAY_SECRET_KEY": "k", "YAYNAY_REDIS_SENTINELS": "sentinel-1"})
    with pytest.raises(ConfigError, match="exclude each other"):
        load_settings(
            environ={
                "YAYNAY_SECRET_KEY": "k",
                "YAYNAY_REDIS_SENTINELS": "sentinel-1:26379",
                "YAYNAY_REDIS_CLUSTER": "true",
            }
        )


@pytest.mark.parametrize(
    "text, expected",
    [("30/minute", (30, 60)), ("5 per second", (5, 1)), ("50/day", (50, 86400)), ("2 per hours", (2, 3600))],
)
def test_rate_limits_are_read_from_text(text, expected):
    limit = RateLimit.parse(text)
    assert (limit.count, limit.window) == expected


def test_the_example_settings_file_loads(tmp_path):
    example = ROOT / "config" / "yaynay.example.toml"
    settings = load_settings(
        environ={"YAYNAY_CONFIG": str(example), "YAYNAY_SECRET_KEY": "k", "YAYNAY_REDIS_URL": "redis://r:6379/0"}
    )
    assert settings["PROXY_HOPS"] == 1
    assert settings["ALLOWED_ORIGINS"] == ["https://blog.example", "https://www.blog.example"]


# -- the table refuses what it does not know, in one line


def one_line_error(**kwargs) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(**kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_an_unknown_key_in_the_file_is_named_with_the_nearest_setting(tmp_path):
    settings_file = tmp_path / "yaynay.toml"
    settings_file.write_text('vote_rate_limt = "10/minute"\n')
    assert one_line_error(environ={"YAYNAY_CONFIG": str(settings_file), "YAYNAY_SECRET_KEY": "k"}) == (
        f"unknown setting 'vote_rate_limt' in {settings_file} (did you mean 'vote_rate_limit'?)"
    )


def test_an_unknown_yaynay_variable_is_named_with_the_nearest_setting():
    assert one_line_error(environ={"YAYNAY_SECRET_KEY": "k", "YAYNAY_MAX_POLS": "3"}) == (
        "unknown setting 'YAYNAY_MAX_POLS' in the environment (did you mean 'YAYNAY_MAX_POLLS'?)"
    )


def test_a_value_of_the_wrong_type_in_the_file_names_key_value_and_type(tmp_path):
    settings_file = tmp_path / "yaynay.toml"
    settings_file.write_text('max_polls = "many"\n')
    assert one_line_error(environ={"YAYNAY_CONFIG": str(settings_file), "YAYNAY_SECRET_KEY": "k"}) == (
        f"max_polls in {settings_file} must be an integer, not 'many'"
    )


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("YAYNAY_MAX_POLLS", "lots", "YAYNAY_MAX_POLLS must be an integer, not 'lots'"),
        ("YAYNAY_REDIS_SOCKET_TIMEOUT", "soon", "YAYNAY_REDIS_SOCKET_TIMEOUT must be a number, not 'soon'"),
        ("YAYNAY_DEMO", "perhaps", "YAYNAY_DEMO must be true or false, not 'perhaps'"),
        ("YAYNAY_MODERATION", "post", "YAYNAY_MODERATION must be 'pre' or 'off', not 'post'"),
        (
            "YAYNAY_COMMENT_RATE_LIMITS",
            "5/minute,lots",
            "YAYNAY_COMMENT_RATE_LIMITS must be rate limits like '5/minute,50/day' "
            "(N/second|minute|hour|day), not 'lots'",
        ),
    ],
)
def test_a_value_of_the_wrong_type_in_the_environment_names_variable_value_and_type(name, value, expected):
    assert one_line_error(environ={"YAYNAY_SECRET_KEY": "k", name: value}) == expected


def test_a_file_that_is_not_toml_is_named(tmp_path):
    settings_file = tmp_path / "yaynay.toml"
    settings_file.write_text("max_polls = \n")
    message = one_line_error(environ={"YAYNAY_CONFIG": str(settings_file)})
    assert message.startswith(f"{settings_file} is not valid TOML")


def test_variables_that_are_not_settings_are_passed_by(tmp_path):
    settings = load_settings(
        environ={
            "YAYNAY_SECRET_KEY": "k",
            "YAYNAY_CONFIG": "",
            "YAYNAY_TEST_REDIS_URL": "redis://127.0.0.1:1/0",
            "YAYNAY_CHROMIUM": "/usr/bin/chromium",
            "YAYNAY_VAR_DIR": str(tmp_path),
        }
    )
    assert "TEST_REDIS_URL" not in settings and "CHROMIUM" not in settings


def test_overrides_may_hold_more_than_settings_but_settings_among_them_are_checked():
    clock = object()
    assert load_settings({"CLOCK": clock, "DEMO": None}, environ={"YAYNAY_SECRET_KEY": "k"})["CLOCK"] is clock
    with pytest.raises(ConfigError, match="^MAX_POLLS must be an integer, not 'many'$"):
        load_settings({"MAX_POLLS": "many"}, environ={"YAYNAY_SECRET_KEY": "k"})


def test_settings_whose_default_is_worked_out_at_start():
    settings = load_settings(environ={"YAYNAY_SECRET_KEY": "k", "YAYNAY_WORKERS": ""})
    assert settings["WORKERS"] is None  # gunicorn.conf.py: one per CPU
    assert settings["DEMO"] is True  # not production
    assert load_settings(environ={"YAYNAY_SECRET_KEY": "k", "YAYNAY_WORKERS": "3"})["WORKERS"] == 3


def test_an_allowed_origin_with_a_path_is_refused_and_a_trailing_slash_dropped():
    assert one_line_error(
        environ={"YAYNAY_SECRET_KEY": "k", "YAYNAY_ALLOWED_ORIGINS": "https://a.example,https://blog.example/news"}
    ) == (
        "YAYNAY_ALLOWED_ORIGINS must be origins like 'https://blog.example' (scheme://host[:port], no path), "
        "not 'https://blog.example/news'"
    )
    settings = load_settings(
        {"ALLOWED_ORIGINS": ["https://a.example/", "http://localhost:8000"]}, environ={"YAYNAY_SECRET_KEY": "k"}
    )
    assert settings["ALLOWED_ORIGINS"] == ["https://a.example", "http://localhost:8000"]


@pytest.mark.parametrize("origin", ["blog.example", "https://user@blog.example", "https://blog.example?x=1", "*"])
def test_what_is_not_an_origin_is_refused(origin):
    with pytest.raises(ConfigError, match="ALLOWED_ORIGINS must be origins"):
        load_settings({"ALLOWED_ORIGINS": [origin]}, environ={"YAYNAY_SECRET_KEY": "k"})


# -- the documents generated from the table


def generated_part(path: Path, begin: str, end: str) -> str:
    text = path.read_text()
    assert text.count(begin) == 1 and text.count(end) == 1, f"{path} needs one {begin!r} and one {end!r} line"
    return text.split(begin + "\n", 1)[1].split(end + "\n", 1)[0]


def test_the_readme_table_is_the_one_the_settings_generate():
    readme = generated_part(ROOT / "README.md", "<!-- settings:begin -->", "<!-- settings:end -->")
    assert readme == markdown_table(), "run: python -m service.settings --markdown, and paste it into README.md"


def test_the_example_file_lists_the_defaults_the_settings_generate():
    example = generated_part(ROOT / "config" / "yaynay.example.toml", "# -- settings:begin", "# -- settings:end")
    assert example == toml_defaults(), "run: python -m service.settings --toml, and paste it into the example"


def test_every_default_in_the_example_file_loads_when_uncommented(tmp_path):
    lines = [line.removeprefix("# ") for line in toml_defaults().splitlines() if " = " in line]
    settings_file = tmp_path / "yaynay.toml"
    settings_file.write_text("\n".join(lines) + "\n")
    settings = load_settings(environ={"YAYNAY_CONFIG": str(settings_file), "YAYNAY_SECRET_KEY": "k"})
    assert {name for name in TABLE if not TABLE[name].secret} <= settings.keys()


def test_the_generators_print_the_documents():
    for flag, document in [("--markdown", markdown_table()), ("--toml", toml_defaults())]:
        result = subprocess.run(
            [sys.executable, "-m", "service.settings", flag], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert (result.returncode, result.stdout, result.stderr) == (0, document, "")


# -- where the settings are read: the yaynay command and gunicorn


def test_the_yaynay_command_refuses_a_bad_setting_in_one_line():
    result = CliRunner().invoke(main, ["poll", "show", "x"], env={"YAYNAY_MAX_POLLS": "lots"})
    assert result.exit_code != 0
    assert result.output.splitlines() == ["Error: YAYNAY_MAX_POLLS must be an integer, not 'lots'"]
    assert "Traceback" not in result.output


@pytest.mark.e2e
def test_gunicorn_refuses_a_bad_setting_in_one_line_before_any_worker_starts(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("YAYNAY_")}
    env.update(YAYNAY_WORKERS="some", YAYNAY_VAR_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "config" / "gunicorn.conf.py"), "service.wsgi:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == ["yaynay: YAYNAY_WORKERS must be an integer, not 'some'"]


def test_the_gunicorn_settings_load_without_the_app(tmp_path):
    """The master keeps Flask out (workers import the app after gevent patched sockets), and the
    bench runs Isso's gunicorn, without Flask, with the same file."""
    script = (
        "import runpy, sys; sys.modules['flask'] = None; "
        f"found = runpy.run_path({str(ROOT / 'config' / 'gunicorn.conf.py')!r}); "
        "print(found['bind'], found['workers'], found['worker_class'], 'service' in sys.modules)"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("YAYNAY_")}
    env.update(YAYNAY_WORKERS="3", YAYNAY_BIND="127.0.0.1:9", YAYNAY_VAR_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout.split()) == (0, ["127.0.0.1:9", "3", "gevent", "False"]), result.stderr


def test_workers_default_to_the_cpus_the_process_may_use(tmp_path):
    """A container's --cpus quota (cgroup v2 cpu.max) caps the affinity; os.cpu_count() counts the host."""
    checks = []
    for index, quota in enumerate(["max 100000", "150000 100000", "50000 100000"]):
        (tmp_path / f"cpu.max.{index}").write_text(quota + "\n")
        checks.append(f"found['usable_cpus']({str(tmp_path / f'cpu.max.{index}')!r})")
    script = (
        "import os, runpy; "
        f"found = runpy.run_path({str(ROOT / 'service' / 'gunicorn_conf.py')!r}); "
        f"print(len(os.sched_getaffinity(0)), {', '.join(checks)}, found['workers'])"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("YAYNAY_")}
    env["YAYNAY_VAR_DIR"] = str(tmp_path / "var")
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    affinity, uncapped, capped_at_two, capped_at_one, workers = map(int, result.stdout.split())
    assert (uncapped, capped_at_two, capped_at_one) == (affinity, min(affinity, 2), 1)
    assert 1 <= workers <= affinity


def test_gunicorn_builds_no_access_line_of_its_own(tmp_path):
    """The app writes the access line; gunicorn's logger, configured by logconfig_dict, would
    otherwise build one for every request and drop it."""
    script = (
        "import runpy; from gunicorn.config import Config; from gunicorn.glogging import Logger; "
        f"found = runpy.run_path({str(ROOT / 'config' / 'gunicorn.conf.py')!r}); "
        "cfg = Config(); cfg.set('logconfig_dict', found['logconfig_dict']); "
        "logger = found['logger_class'](cfg); "
        "print(issubclass(found['logger_class'], Logger), logger.access(None, None, None, None))"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("YAYNAY_")}
    env["YAYNAY_VAR_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout.split()) == (0, ["True", "None"]), result.stderr


def test_the_gunicorn_hooks_run_under_an_interpreter_without_yaynay(tmp_path):
    """The benchmark runs Isso under config/gunicorn.conf.py with Isso's own interpreter, where
    the service package is not installed: the worker hooks must not need it. Here without
    ``site``, so the venv's packages are on the path but not its editable install of yaynay."""
    import sysconfig

    script = (
        "import runpy, signal; from gunicorn.config import Config\n"
        "try:\n    import service\nexcept ImportError:\n    pass\nelse:\n    raise SystemExit('service importable')\n"
        f"found = runpy.run_path({str(ROOT / 'config' / 'gunicorn.conf.py')!r})\n"
        "class Worker:\n    pid = 0\n    cfg = Config()\n"
        "found['post_worker_init'](Worker()); found['worker_int'](Worker())\n"
        "print(callable(signal.getsignal(signal.SIGTERM)))\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("YAYNAY_")}
    env.update(YAYNAY_VAR_DIR=str(tmp_path), PYTHONPATH=sysconfig.get_paths()["purelib"])
    result = subprocess.run(
        [sys.executable, "-S", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout.split()) == (0, ["True"]), result.stderr
