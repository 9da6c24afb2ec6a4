"""Configuration as a contract, run as a user runs it: unknown keys and variables, wrong types and broken
files stop `newsroom serve` with errors that name where the mistake was written (file:line:column, the
variable, the flag) and the nearest known name; `newsroom config check|defaults|docs`; docs/configuration.md
is the generated one."""

import json
import os
import re
import subprocess
import time

import httpx
import pytest

from conftest import BINARY, ROOT, Hub


def environment(extra=None):
    """The test's environment without NEWSROOM_* settings (the tools' own variables stay), plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("NEWSROOM_") or k in ("NEWSROOM_BINARY", "NEWSROOM_NO_SKIPS", "NEWSROOM_REQUIRE_BROWSER")}
    env.update(extra or {})
    return env


def newsroom(*args, env=None, timeout=30):
    """Runs the CLI to completion; returns (exit status, stdout, stderr, seconds)."""
    started = time.monotonic()
    done = subprocess.run([str(BINARY), *args], capture_output=True, text=True, timeout=timeout, env=environment(env))
    return done.returncode, done.stdout, done.stderr, time.monotonic() - started


def fails_cleanly(status, err):
    assert status == 1, (status, err)
    assert "Fatal error" not in err and "Stack dump" not in err and "Current stack trace" not in err, err
    assert "Usage:" not in err, err


def serve_fails(*args, env=None):
    """`newsroom serve` stops before listening; returns its stderr."""
    status, out, err, seconds = newsroom("serve", "--port", "0", *args, env=env)
    fails_cleanly(status, err)
    assert "listening" not in out
    assert seconds < 10
    return err


# --- the cases from issue 18 -------------------------------------------------------------------------


def test_a_port_that_is_not_a_number_in_the_file_stops_the_hub_naming_the_file_and_key(tmp_path):
    config = tmp_path / "newsroom.json"
    config.write_text('{\n  "port": "abc"\n}\n')
    err = serve_fails("--config", str(config))
    assert f'newsroom: {config}:2:3: "port" must be an integer, not the string "abc"' in err, err


def test_a_port_that_is_not_a_number_in_the_environment_stops_the_hub():
    status, out, err, _ = newsroom("serve", env={"NEWSROOM_PORT": "abc"})
    fails_cleanly(status, err)
    assert "newsroom: NEWSROOM_PORT=abc: port must be an integer" in err, err


def test_a_misspelled_key_in_the_file_is_an_error_with_a_suggestion(tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"prot": 9000, "http": {"maxBodyByte": 10}}, indent=2))
    err = serve_fails("--config", str(config))
    assert f'{config}:2:3: unknown key "prot" — did you mean "port"?' in err, err
    assert f'{config}:4:5: unknown key "http.maxBodyByte" — did you mean "http.maxBodyBytes"?' in err, err


def test_an_unknown_newsroom_variable_is_an_error_with_a_suggestion():
    err = serve_fails(env={"NEWSROOM_PROT": "9000", "NEWSROOM_HTTP_MAX_BODY_BYTE": "1"})
    assert "newsroom: NEWSROOM_PROT: unknown variable — did you mean NEWSROOM_PORT?" in err, err
    assert "NEWSROOM_HTTP_MAX_BODY_BYTE: unknown variable — did you mean NEWSROOM_HTTP_MAX_BODY_BYTES?" in err, err


def test_a_truncated_config_file_names_the_file_line_and_column(tmp_path):
    config = tmp_path / "cut.json"
    config.write_text('{\n  "port": 9000,\n  "http": {"maxBodyBytes": 10')
    err = serve_fails("--config", str(config))
    assert f"newsroom: {config}:3:30: not valid JSON: the file ends where ',' or '}}' should be (is it truncated?)" in err, err


def test_a_missing_config_file_is_named(tmp_path):
    err = serve_fails("--config", str(tmp_path / "none.json"))
    assert f"newsroom: {tmp_path / 'none.json'}: cannot read the config file" in err, err


def test_a_value_that_is_not_allowed_names_its_source(tmp_path):
    err = serve_fails(env={"NEWSROOM_THREADS": "0"})
    assert "newsroom: NEWSROOM_THREADS: threads must be positive" in err, err
    err = serve_fails("--threads", "0")
    assert "newsroom: --threads: threads must be positive" in err, err
    config = tmp_path / "c.json"
    config.write_text('{"log": {"level": "loud"}}')
    err = serve_fails("--config", str(config))
    assert f"newsroom: {config}:1:10: log.level must be one of" in err, err


def test_provider_keys_are_accepted_by_pattern_and_other_ids_are_errors(tmp_path):
    ok = {"NEWSROOM_PROVIDER_OPENAI_API_KEY": "sk-test", "NEWSROOM_PROVIDER_OPENAI_RESPONSES_BASE_URL": "http://127.0.0.1:1",
          "NEWSROOM_PROVIDERS": "my-llama", "NEWSROOM_PROVIDER_MY_LLAMA_ADAPTER": "openai",
          "NEWSROOM_PROVIDER_MY_LLAMA_BASE_URL": "http://127.0.0.1:2"}
    status, out, err, _ = newsroom("config", "check", env=ok)
    assert status == 0 and out == "configuration OK\n", err
    err = serve_fails(env={"NEWSROOM_PROVIDER_NOPE_API_KEY": "x"})
    assert "NEWSROOM_PROVIDER_NOPE_API_KEY: names no provider" in err and "NEWSROOM_PROVIDERS" in err, err
    err = serve_fails(env={"NEWSROOM_PROVIDER_OPENAI_APIKEY": "x"})
    assert "did you mean NEWSROOM_PROVIDER_OPENAI_API_KEY?" in err, err
    assert "=x" not in err, err


def test_the_hs256_secret_variable_the_docs_name_turns_authentication_on():
    """NEWSROOM_AUTH_HS256_SECRET (README, deploy/) used to be read as NEWSROOM_AUTH_HS256SECRET and ignored."""
    hub = Hub(["serve", "--port", "0"], env={"NEWSROOM_AUTH_HS256_SECRET": "a-test-secret-of-enough-length-0123456789"})
    try:
        assert httpx.post(f"{hub.url}/v1/topics/t/events", json={"type": "text_delta", "text": "x"}).status_code == 401
    finally:
        hub.stop()


def test_a_secret_value_is_never_printed():
    err = serve_fails(env={"NEWSROOM_AUTH_HS256_SECRET": "short-secret"})
    assert "short-secret" not in err and "auth.hs256Secret must be at least 32 bytes" in err, err


# --- newsroom config check / defaults / docs -----------------------------------------------------------


def test_config_check_says_ok_for_a_good_file_and_the_environment(tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"port": 9000, "flush": {"interval": "10ms"}, "cors": {"allowedOrigins": ["*"]}}))
    status, out, err, _ = newsroom("config", "check", str(config), env={"NEWSROOM_THREADS": "2"})
    assert (status, out, err) == (0, "configuration OK\n", "")
    status, out, err, _ = newsroom("config", "check", env={"NEWSROOM_CONFIG": str(config)})
    assert (status, out) == (0, "configuration OK\n"), err


def test_config_check_reports_every_mistake_and_starts_nothing(tmp_path):
    config = tmp_path / "c.json"
    config.write_text('{"prot": 1, "threads": "many", "log": {"format": 3}}')
    status, out, err, _ = newsroom("config", "check", str(config), env={"NEWSROOM_QUEUE_MAX_EVENTS": "lots"})
    fails_cleanly(status, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert lines == [
        "newsroom: NEWSROOM_QUEUE_MAX_EVENTS=lots: queue.maxEvents must be an integer",
        f'newsroom: {config}:1:2: unknown key "prot" — did you mean "port"?',
        f'newsroom: {config}:1:13: "threads" must be an integer, not the string "many"',
        f'newsroom: {config}:1:40: "log.format" must be a string, not the number 3',
    ], err


def test_config_defaults_is_a_complete_commented_environment_file_that_checks(tmp_path):
    status, out, err, _ = newsroom("config", "defaults")
    assert status == 0, err
    settings, commented = {}, set()
    for line in out.splitlines():
        if m := re.fullmatch(r"#?(NEWSROOM_[A-Z0-9_]+)=(.*)", line):
            if line.startswith("#"):
                commented.add(m.group(1))
            else:
                settings[m.group(1)] = m.group(2)
    assert settings["NEWSROOM_PORT"] == "8080" and settings["NEWSROOM_FLUSH_INTERVAL"] == "40ms"
    assert {"NEWSROOM_TLS_CERTIFICATE", "NEWSROOM_THREADS", "NEWSROOM_AUTH_HS256_SECRET"} <= commented
    assert len(settings) + len(commented) >= 90  # ~70 keys and the built-in providers' settings
    assert "# The HTTP port" in out
    status, out, err, _ = newsroom("config", "check", env=settings)
    assert (status, out) == (0, "configuration OK\n"), err


def test_config_defaults_as_json_is_a_config_file_that_checks(tmp_path):
    status, out, err, _ = newsroom("config", "defaults", "--format", "json")
    assert status == 0, err
    document = json.loads(out)
    assert document["port"] == 8080 and document["http"]["maxBodyBytes"] == 1048576
    assert document["socketio"]["path"] == "/socket.io/" and document["tls"]["certificate"] is None
    assert document["provider"]["openai"]["baseUrl"] == "https://api.openai.com"
    path = tmp_path / "defaults.json"
    path.write_text(out)
    status, out, err, _ = newsroom("config", "check", str(path))
    assert (status, out) == (0, "configuration OK\n"), err
    status, _, err, _ = newsroom("config", "defaults", "--format", "yaml")
    assert status != 0 and "--format must be env or json" in err


def test_docs_configuration_md_is_the_generated_reference():
    status, out, err, _ = newsroom("config", "docs")
    assert status == 0, err
    checked_in = (ROOT / "docs" / "configuration.md").read_text()
    assert checked_in == out, "docs/configuration.md is stale: run `.build/debug/newsroom config docs > docs/configuration.md`"


def test_every_documented_flag_is_a_flag_of_serve_and_every_key_is_documented():
    _, docs, _, _ = newsroom("config", "docs")
    _, help_text, _, _ = newsroom("serve", "--help")
    flags = re.findall(r"\| `(--[a-z0-9-]+)` \|", docs)
    assert len(flags) >= 20
    for flag in flags:
        assert flag in help_text, flag
    keys = set(re.findall(r"^\| `([A-Za-z0-9.]+)` \| `NEWSROOM_", docs, re.M))
    for name in ("port", "grpc.port", "http.shutdownGrace", "upstream.maxAttempts", "tls.certificate",
                 "broker.url", "socketio.recovery", "proxy.models", "limits.generationsPerToken"):
        assert name in keys, name
    assert len(keys) >= 70
