"""The plugin acts only on a run that uses dualmode: each way a run opts in, and a run that does not."""

from __future__ import annotations

import os
from typing import Any

import pytest

from pytest_dualmode.local.fake_aws import FAKE_KEY_ID

# A test that reports the AWS environment it sees, as one line on stdout (run with -s).
ENV_PROBE = """
import json, os
NAMES = ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_CONFIG_FILE", "NO_PROXY")

def test_env_probe():
    print("ENV " + json.dumps({name: os.environ.get(name) for name in NAMES}))
"""

REAL = {
    "AWS_PROFILE": "prod-like",
    "AWS_ACCESS_KEY_ID": "AKIAPLAINPROJECT0001",
    "NO_PROXY": "internal.example",
}


@pytest.fixture
def real_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of a developer's shell: a real-looking profile and key, a NO_PROXY of their own."""
    for name, value in REAL.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_CONFIG_FILE", raising=False)
    for name in [n for n in os.environ if n.startswith("DUALMODE_")]:
        monkeypatch.delenv(name)
    return REAL


def _seen(result: pytest.RunResult) -> list[dict[str, Any]]:
    import json

    return [json.loads(line.partition("ENV ")[2]) for line in result.stdout.lines if "ENV {" in line]


def _untouched(seen: dict[str, Any]) -> bool:
    return seen == {**REAL, "AWS_CONFIG_FILE": None}


def _faked(seen: dict[str, Any]) -> bool:
    return (
        seen["AWS_PROFILE"] is None
        and seen["AWS_ACCESS_KEY_ID"] == FAKE_KEY_ID
        and seen["AWS_CONFIG_FILE"] == os.devnull
        and seen["NO_PROXY"] == "internal.example,127.0.0.1,localhost,::1"
    )


def test_a_plain_project_keeps_its_environment_and_its_assertion_text(
    pytester: pytest.Pytester, real_env: dict[str, str]
) -> None:
    pytester.makepyfile(
        test_plain=ENV_PROBE
        + """
def test_compare():
    assert "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVoxMjM0" == "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVoxMjM1"

def test_labelled():
    secret = "my-own-test-data"
    assert f"Authorization: {secret}" == "x"
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=1, failed=2)
    (seen,) = _seen(result)
    assert _untouched(seen), seen
    out = result.stdout.str()
    assert "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVoxMjM0" in out and "Authorization: my-own-test-data" in out
    assert "[REDACTED]" not in out
    assert "dualmode:" not in out  # no report header line either


def test_a_project_whose_own_fixture_is_named_http_is_still_plain(
    pytester: pytest.Pytester, real_env: dict[str, str]
) -> None:
    pytester.makeconftest(
        "import pytest\n@pytest.fixture\ndef http():\n    return 'theirs'\n"
        "@pytest.fixture\ndef dynamodb(http):\n    return 'theirs too'\n"
    )
    pytester.makepyfile(test_own=ENV_PROBE.replace("def test_env_probe():", "def test_env_probe(dynamodb):"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=1)
    (seen,) = _seen(result)
    assert _untouched(seen), seen


def test_a_test_using_a_dualmode_fixture_fakes_the_environment_for_the_whole_run(
    pytester: pytest.Pytester, real_env: dict[str, str]
) -> None:
    # The plain test runs first, and already sees the fake environment: it is forced after collection.
    pytester.makepyfile(
        test_a=ENV_PROBE,
        test_b="def test_uses(dualmode_settings):\n    assert dualmode_settings.mode == 'local'\n",
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=2)
    (seen,) = _seen(result)
    assert _faked(seen), seen
    # Known only after collection, the run's dualmode line comes after the header, before any test.
    result.stdout.fnmatch_lines(["dualmode: local, dynamodb embedded (moto)*", "collected 2 items"])


def test_a_fixture_asked_for_at_run_time_fakes_the_environment_before_it_runs(
    pytester: pytest.Pytester, real_env: dict[str, str]
) -> None:
    pytester.makepyfile(
        test_dynamic="""
        import os

        def test_dynamic(request):
            assert os.environ["AWS_PROFILE"] == "prod-like"
            request.getfixturevalue("dualmode_settings")
            assert "AWS_PROFILE" not in os.environ
            assert os.environ["AWS_CONFIG_FILE"] == os.devnull
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_a_conftest_defining_dualmode_service_fakes_the_environment_before_its_tests_are_imported(
    pytester: pytest.Pytester, real_env: dict[str, str]
) -> None:
    # Not a conftest pytest loads at start: it is found while collecting sub/. Both it and the test module
    # beside it see the fake environment while they are imported.
    pytester.mkpydir("sub")
    (pytester.path / "sub" / "conftest.py").write_text(
        "import os, pytest\nSAW = os.environ.get('AWS_PROFILE')\n"
        "@pytest.fixture\ndef conftest_saw():\n    return SAW\n"
        "@pytest.fixture(scope='session')\ndef dualmode_service():\n    raise AssertionError\n"
    )
    (pytester.path / "sub" / "test_import_time.py").write_text(
        "import os\nAT_IMPORT = os.environ.get('AWS_PROFILE')\n"
        "def test_import_time(conftest_saw):\n    assert (conftest_saw, AT_IMPORT) == (None, None)\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("where", ["root-conftest", "plugin-module"])
def test_a_dualmode_service_loaded_at_start_fakes_the_environment_for_tests_that_use_no_fixture(
    pytester: pytest.Pytester, real_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    # The fixture is only defined, never requested: defining it is the opt-in.
    service = (
        "import pytest\n@pytest.fixture(scope='session')\ndef dualmode_service():\n    raise AssertionError\n"
    )
    args = ["-p", "no:cacheprovider", "-s"]
    if where == "root-conftest":
        pytester.makeconftest(service)
    else:
        pytester.makepyfile(their_service_plugin=service)
        monkeypatch.setenv("PYTHONPATH", str(pytester.path))
        args += ["-p", "their_service_plugin"]
    pytester.makepyfile(test_plain=ENV_PROBE)
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1)
    (seen,) = _seen(result)
    assert _faked(seen), seen


@pytest.mark.parametrize(
    ("args", "env", "ini"),
    [
        (["--dualmode"], {}, ""),
        ([], {"DUALMODE_ENABLED": "1"}, ""),
        ([], {}, "[pytest]\ndualmode_enabled = true\n"),
        ([], {"DUALMODE_AWS_REGION": "eu-west-1"}, ""),
    ],
    ids=["flag", "env", "ini", "any-option"],
)
def test_the_explicit_switch_or_any_option_fakes_the_environment(
    pytester: pytest.Pytester,
    real_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    ini: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if ini:
        pytester.makeini(ini)
    pytester.makepyfile(test_plain=ENV_PROBE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s", *args)
    result.assert_outcomes(passed=1)
    (seen,) = _seen(result)
    assert _faked(seen), seen
    result.stdout.fnmatch_lines(["dualmode: local, dynamodb embedded (moto)*"])


def test_the_switch_turned_off_on_the_command_line_leaves_a_plain_project_alone(
    pytester: pytest.Pytester, real_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUALMODE_ENABLED", "1")
    pytester.makepyfile(test_plain=ENV_PROBE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s", "--no-dualmode")
    result.assert_outcomes(passed=1)
    (seen,) = _seen(result)
    assert _untouched(seen), seen


def test_a_remote_target_activates_the_readiness_check(
    pytester: pytest.Pytester, real_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "plain-project-secret-value")
    monkeypatch.delenv("AWS_PROFILE")
    pytester.makepyfile(test_plain=ENV_PROBE)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--http-addr", "http://127.0.0.1:9", "--connect-timeout", "1"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--http-addr http://127.0.0.1:9: not reachable within 1s*"])


def test_a_remote_run_redacts_the_secrets_it_holds(
    service_project: pytest.Pytester, running_service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "plain-project-secret-value"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDREMOTEREDACT0001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    service_project.makepyfile(
        test_leak=f"""
        import os
        def test_leak():
            other = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVoxMjM0"
            assert os.environ["AWS_SECRET_ACCESS_KEY"] + other == "{secret}"

        def test_own_data():
            assert {{"secret": "my-own-test-data"}} == {{"secret": "other-test-data"}}
        """
    )
    result = service_project.runpytest_subprocess(
        "-p", "no:cacheprovider", "--http-addr", running_service["http"], "test_leak.py"
    )
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert secret not in out and "[REDACTED]" in out
    # Only the secrets of this run are masked: other data stays readable, even under a key named "secret".
    assert "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVoxMjM0" in out
    assert "'my-own-test-data'" in out and "'other-test-data'" in out


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["--fixtures"], ["--markers"]])
def test_help_and_the_like_never_fail_on_a_bad_setting(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.setenv("DUALMODE_HTTP_ADDR", "staging.internal")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.OK, result.stderr.str()
    out = result.stdout.str() + result.stderr.str()
    expected = {
        "--help": "--http-addr=URL",
        "--version": "pytest",
        "--fixtures": "grpc_channel",
        "--markers": "@pytest.mark.remote_only",
    }[args[0]]
    assert expected in out
    assert "staging.internal" not in out


def test_a_bad_setting_stops_a_plain_project_run_that_sets_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Setting a dualmode option asks for dualmode: a bad value is an error, not silently ignored."""
    monkeypatch.setenv("DUALMODE_HTTP_ADDR", "staging.internal")
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --http-addr 'staging.internal' is not an http:// or https:// URL*"])


def test_the_environment_is_given_back_after_an_in_process_session(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Lambda handler runs many sessions in one process: each one's forced environment is undone."""
    monkeypatch.setenv("AWS_PROFILE", "kept-by-the-process")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAPROCESSKEY000001")
    pytester.makepyfile(
        test_inner="""
        import os
        def test_inner(dualmode_settings):
            assert "AWS_PROFILE" not in os.environ
        """
    )
    for _ in range(2):
        result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:asyncio", "-p", "no:anyio")
        result.assert_outcomes(passed=1)
        assert os.environ["AWS_PROFILE"] == "kept-by-the-process"
        assert os.environ["AWS_ACCESS_KEY_ID"] == "AKIAPROCESSKEY000001"
