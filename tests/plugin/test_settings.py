"""Option parsing: every bad value is a UsageError naming the value, its source and the fix."""

from __future__ import annotations

import pytest

from pytest_dualmode.settings import (
    OPTIONS,
    SettingError,
    from_config,
    parse_host_port,
    parse_url,
    requested,
    resolve,
)

BAD_VALUES = [
    ("addr", "staging", "is not HOST:PORT"),
    ("addr", "staging:", "is not a number"),
    ("addr", "staging:0", "1 to 65535"),
    ("addr", "staging:70000", "1 to 65535"),
    ("addr", "::1:443", "bare IPv6"),
    ("addr", "[::1:443", "unclosed"),
    ("addr", "[zz]:443", "invalid IPv6"),
    ("addr", "http://staging:443", "HOST:PORT"),
    ("http_addr", "staging.internal", "http:// or https://"),
    ("http_addr", "ftp://staging", "http:// or https://"),
    ("http_addr", "https://", "no host"),
    ("http_addr", "https://staging:99999", "invalid port"),
    ("http_addr", "https://staging/?a=1", "query or fragment"),
    ("dynamodb_endpoint", "localhost:8000", "http:// or https://"),
    ("connect_timeout", "soon", "not a number"),
    ("connect_timeout", "0", "more than 0"),
    ("connect_timeout", "-3", "more than 0"),
    ("connect_timeout", "99999", "at most 3600"),
    ("request_timeout", "1e999", "at most 3600"),
    ("aws_region", "useast1", "not an AWS region"),
    ("aws_region", "US-EAST-1", "not an AWS region"),
    ("aws_profile", "two words", "single word"),
    ("sigv4_service", "", "single word"),
    ("grpc_ca_file", "/nonexistent/ca.pem", "not an existing file"),
    ("grpc_plaintext", "maybe", "not a boolean"),
    ("no_sigv4", "2", "not a boolean"),
    ("allow_destructive", "yes please", "not a boolean"),
    ("enabled", "sure", "not a boolean"),
]


def _opt(name: str):
    return next(o for o in OPTIONS if o.name == name)


@pytest.mark.parametrize(("name", "value", "why"), BAD_VALUES)
@pytest.mark.parametrize("source", ["cli", "env", "ini"])
def test_bad_value_names_value_source_and_fix(name: str, value: str, why: str, source: str) -> None:
    opt = _opt(name)
    cli = {name: value} if source == "cli" else {}
    env = {opt.env: value} if source == "env" else {}
    ini = {opt.ini: value} if source == "ini" else {}
    if source == "ini" and not value.strip():
        pytest.skip("an empty ini value means unset")
    with pytest.raises(pytest.UsageError) as info:
        resolve(cli, env, lambda k: ini.get(k, ""), "pytest.ini")
    message = str(info.value)
    assert opt.flag in message
    assert repr(value) in message
    assert why in message
    where = {"cli": opt.flag, "env": f"{opt.env} environment variable", "ini": f"{opt.ini} in pytest.ini"}[
        source
    ]
    assert f"from {where}" in message or f"from the {where}" in message
    assert "use e.g." in message or "set " in message


def test_precedence_cli_then_env_then_ini_then_default() -> None:
    ini = {"dualmode_addr": "ini:1", "dualmode_connect_timeout": "7"}
    env = {"DUALMODE_ADDR": "env:2", "DUALMODE_CONNECT_TIMEOUT": "8"}
    s = resolve({"addr": "cli:3"}, env, lambda k: ini.get(k, ""))
    assert (s.addr, s.connect_timeout) == ("cli:3", 8.0)
    assert s.source("addr") == "--addr"
    assert s.source("connect_timeout") == "the DUALMODE_CONNECT_TIMEOUT environment variable"
    s = resolve({}, {}, lambda k: ini.get(k, ""))
    assert (s.addr, s.connect_timeout) == ("ini:1", 7.0)
    s = resolve({}, {}, lambda k: "")
    assert (s.addr, s.connect_timeout, s.mode) == (None, 5.0, "local")
    assert s.source("addr") == "default"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("no", False),
        ("off", False),
    ],
)
def test_boolean_env_values(raw: str, expected: bool) -> None:
    s = resolve({}, {"DUALMODE_GRPC_PLAINTEXT": raw}, lambda k: "")
    assert s.grpc_plaintext is expected


def test_cli_flag_overrides_env_false() -> None:
    s = resolve({"grpc_plaintext": True}, {"DUALMODE_GRPC_PLAINTEXT": "0"}, lambda k: "")
    assert s.grpc_plaintext is True


@pytest.mark.parametrize(
    ("args", "env", "name", "expected", "source"),
    [
        (["--no-grpc-plaintext"], {"DUALMODE_GRPC_PLAINTEXT": "1"}, "grpc_plaintext", False, None),
        (["--grpc-plaintext"], {"DUALMODE_GRPC_PLAINTEXT": "0"}, "grpc_plaintext", True, "--grpc-plaintext"),
        (["--sigv4"], {"DUALMODE_NO_SIGV4": "1"}, "no_sigv4", False, "--sigv4"),
        (["--no-sigv4"], {}, "no_sigv4", True, "--no-sigv4"),
        (["--no-allow-destructive"], {"DUALMODE_ALLOW_DESTRUCTIVE": "yes"}, "allow_destructive", False, None),
        (["--no-dualmode"], {"DUALMODE_ENABLED": "1"}, "enabled", False, "--no-dualmode"),
        (["--dualmode"], {}, "enabled", True, "--dualmode"),
        ([], {"DUALMODE_NO_SIGV4": "1"}, "no_sigv4", True, "the DUALMODE_NO_SIGV4 environment variable"),
    ],
)
def test_the_command_line_turns_an_environment_flag_off(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    name: str,
    expected: bool,
    source: str | None,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = from_config(pytester.parseconfig(*args))
    assert getattr(settings, name) is expected
    assert settings.source(name) == (source or args[0])


@pytest.mark.parametrize(
    ("cli", "env", "ini", "expected"),
    [
        ({}, {}, {}, None),
        ({"enabled": True}, {}, {}, "--dualmode"),
        ({"enabled": False}, {"DUALMODE_ENABLED": "1"}, {}, None),
        ({}, {"DUALMODE_ENABLED": "0"}, {}, None),
        ({}, {}, {"dualmode_enabled": "true"}, "dualmode_enabled in pytest.ini"),
        ({}, {}, {"dualmode_enabled": "false"}, None),
        ({}, {"DUALMODE_HTTP_ADDR": "staging.internal"}, {}, "the DUALMODE_HTTP_ADDR environment variable"),
        ({"addr": "a:1"}, {}, {}, "--addr"),
        ({}, {}, {"dualmode_dynamodb_endpoint": "http://x"}, "dualmode_dynamodb_endpoint in pytest.ini"),
        ({"grpc_plaintext": False}, {}, {}, None),
        ({}, {"DUALMODE_NO_SIGV4": "maybe"}, {}, "the DUALMODE_NO_SIGV4 environment variable"),
    ],
)
def test_a_run_asks_for_dualmode_by_any_option_that_is_not_off(
    cli: dict[str, object], env: dict[str, str], ini: dict[str, str], expected: str | None
) -> None:
    assert requested(cli, env, lambda k: ini.get(k, ""), "pytest.ini") == expected


def test_remote_mode_and_normalised_values() -> None:
    s = resolve({"http_addr": "https://api.internal/"}, {"DUALMODE_ADDR": "[::1]:443"}, lambda k: "")
    assert s.mode == "remote"
    assert s.http_addr == "https://api.internal"
    assert s.addr == "[::1]:443"


def test_contradictions_are_rejected() -> None:
    with pytest.raises(pytest.UsageError, match="only applies in local mode"):
        resolve({"addr": "a:1", "dynamodb_endpoint": "http://127.0.0.1:8000"}, {}, lambda k: "")
    with pytest.raises(pytest.UsageError, match="contradict"):
        resolve({"grpc_plaintext": True, "grpc_ca_file": __file__}, {}, lambda k: "")


def test_long_values_are_cut_in_messages() -> None:
    with pytest.raises(pytest.UsageError) as info:
        resolve({"addr": "x" * 5000}, {}, lambda k: "")
    assert len(str(info.value)) < 400


def test_parsers_accept_good_values() -> None:
    assert parse_host_port(" api.internal:443 ") == "api.internal:443"
    assert parse_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    with pytest.raises(SettingError):
        parse_url("127.0.0.1:8080")
