"""The plugin end to end through pytester: local and remote modes, markers, laziness, teardown, xdist."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from pytest_dualmode.local.fake_aws import FAKE_KEY_ID, FAKE_SECRET


def _reports(path: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _env_report(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Any:
    report = pytester.path / "report.jsonl"
    monkeypatch.setenv("DUALMODE_TEST_REPORT", str(report))
    return report


def test_local_mode_serves_both_apis_and_says_so(service_project: pytest.Pytester) -> None:
    result = service_project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["dualmode: local, dynamodb embedded (moto)*signing SigV4 vpc-lattice-svcs*"])


def test_teardown_leaves_no_thread_or_socket(
    service_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = _env_report(service_project, monkeypatch)
    service_project.makepyfile(
        test_ddb="def test_ddb(dynamodb):\n    assert dynamodb.list_tables()['TableNames'] == []\n"
    )
    result = service_project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    (final,) = _reports(report)
    assert final["starts"] == ["service"]
    assert [t for t in final["threads"] if t.startswith("dualmode")] == []
    assert final["sockets"] == 0, final


def test_lazy_nothing_starts_without_dualmode_fixtures(
    service_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = _env_report(service_project, monkeypatch)
    service_project.makepyfile(test_plain="def test_plain():\n    assert 1 + 1 == 2\n")
    result = service_project.runpytest_subprocess("-p", "no:cacheprovider", "test_plain.py")
    result.assert_outcomes(passed=1)
    (final,) = _reports(report)
    assert final["starts"] == [] and final["sockets"] == 0


def test_a_run_without_dualmode_fixtures_loads_only_the_plugins_own_small_modules(
    pytester: pytest.Pytester,
) -> None:
    """Every pytest run of every user imports the plugin: it must not load the service side, the AWS and
    gRPC libraries or even the fixtures' value classes until a test asks for them."""
    pytester.makepyfile(
        test_plain="""
        import sys

        def test_plain():
            assert "pytest_dualmode.plugin" in sys.modules
            lazy = ("pytest_dualmode.target", "pytest_dualmode.local.service", "grpc", "boto3", "moto")
            assert [name for name in lazy if name in sys.modules] == []

        def test_the_names_load_on_first_use():
            import pytest_dualmode

            assert pytest_dualmode.Target.__module__ == "pytest_dualmode.target"
            assert pytest_dualmode.LocalService.__module__ == "pytest_dualmode.local.service"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_collect_only_starts_nothing(
    service_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = _env_report(service_project, monkeypatch)
    result = service_project.runpytest_subprocess("-p", "no:cacheprovider", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        ["test_service.py::test_http", "test_service.py::test_grpc", "*2 tests collected*"]
    )
    assert result.ret == 0
    (final,) = _reports(report)
    assert final["starts"] == [] and final["sockets"] == 0


def test_only_the_used_parts_start(service_project: pytest.Pytester) -> None:
    service_project.makepyfile(
        test_parts="""
        def test_http_only(http, dualmode_local_stack):
            assert http.get("/").status_code == 200
            assert dualmode_local_stack.started == ["http"]
    """
    )
    result = service_project.runpytest_subprocess("-p", "no:cacheprovider", "test_parts.py")
    result.assert_outcomes(passed=1)


def test_one_stack_per_xdist_worker(
    service_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = _env_report(service_project, monkeypatch)
    service_project.makepyfile(
        test_more="""
        import pytest
        @pytest.mark.parametrize("n", range(6))
        def test_many(http, n):
            assert http.get(f"/{n}").text == f"hello /{n}"
    """
    )
    result = service_project.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=8)
    workers = [r for r in _reports(report) if r["starts"]]
    assert len(workers) == 2, _reports(report)
    assert all(r["starts"] == ["service"] and r["sockets"] == 0 for r in workers)


MARKER_TESTS = """
import pytest
@pytest.mark.local_only
def test_local(dualmode_target):
    assert dualmode_target.mode == "local"
@pytest.mark.remote_only
def test_remote(dualmode_target):
    assert dualmode_target.mode == "remote"
@pytest.mark.destructive
def test_destructive():
    pass
def test_needs_ddb(dynamodb):
    pass
"""


def test_markers_in_local_mode(service_project: pytest.Pytester) -> None:
    service_project.makepyfile(test_markers=MARKER_TESTS)
    result = service_project.runpytest_subprocess("-p", "no:cacheprovider", "-rs", "test_markers.py")
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(["*remote_only: needs --addr/--http-addr*"])


def test_markers_and_dynamodb_in_remote_mode(service_project: pytest.Pytester, running_service: Any) -> None:
    service_project.makepyfile(test_markers=MARKER_TESTS)
    args = [
        "-p",
        "no:cacheprovider",
        "-rs",
        "--addr",
        running_service["grpc"],
        "--grpc-plaintext",
        "--http-addr",
        running_service["http"],
    ]
    result = service_project.runpytest_subprocess(*args)
    result.assert_outcomes(passed=3, skipped=3)
    result.stdout.fnmatch_lines(
        [
            "dualmode: remote, grpc 127.0.0.1:* (plaintext), http http://127.0.0.1:*",
            "*local_only: skipped against a remote target*",
            "*destructive: not run against a remote target without --allow-destructive*",
            "*dynamodb is only available in local mode*",
        ]
    )
    result = service_project.runpytest_subprocess(*args, "--allow-destructive", "test_markers.py")
    result.assert_outcomes(passed=2, skipped=2)


def test_remote_http_only_skips_grpc_with_reason(
    service_project: pytest.Pytester, running_service: Any
) -> None:
    result = service_project.runpytest_subprocess(
        "-p", "no:cacheprovider", "-rs", "--http-addr", running_service["http"]
    )
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*no gRPC target in this remote run: pass --addr*"])


def test_env_overrides_ini(
    service_project: pytest.Pytester, running_service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    service_project.makeini(
        "[pytest]\ndualmode_addr = 127.0.0.1:1\ndualmode_grpc_plaintext = true\n"
        f"dualmode_http_addr = {running_service['http']}\n"
    )
    monkeypatch.setenv("DUALMODE_ADDR", running_service["grpc"])
    result = service_project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    monkeypatch.delenv("DUALMODE_ADDR")
    result = service_project.runpytest_subprocess("-p", "no:cacheprovider", "--connect-timeout", "1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--addr 127.0.0.1:1: not reachable within 1s*"])


def test_unreachable_addr_fails_fast_and_names_it(service_project: pytest.Pytester) -> None:
    started = time.monotonic()
    result = service_project.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--addr",
        "127.0.0.1:9",
        "--http-addr",
        "http://127.0.0.1:9",
        "--grpc-plaintext",
        "--connect-timeout",
        "1",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: the remote target is unreachable:",
            "*--addr 127.0.0.1:9: not reachable within 1s*",
            "*--http-addr http://127.0.0.1:9: not reachable within 1s*",
        ]
    )
    assert "passed" not in result.stdout.str()
    # One bounded check for the whole run, not one timeout per test (generous bound: slow machines).
    assert time.monotonic() - started < 30


def test_unresolvable_host_is_named(service_project: pytest.Pytester) -> None:
    result = service_project.runpytest_subprocess(
        "-p", "no:cacheprovider", "--addr", "no-such-host.invalid:443", "--connect-timeout", "2"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--addr no-such-host.invalid:443: cannot resolve 'no-such-host.invalid'*"])


def test_bad_env_value_stops_before_any_test(
    service_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUALMODE_HTTP_ADDR", "staging.internal")
    result = service_project.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --http-addr 'staging.internal' is not an http:// or https:// URL "
            "(from the DUALMODE_HTTP_ADDR environment variable); use e.g. --http-addr=https://api.internal"
        ]
    )


def test_missing_dualmode_service_says_what_to_write(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(http):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*define a session-scoped `dualmode_service` fixture in conftest.py*"])


def test_fixtures_are_documented(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    assert result.ret == 0
    result.stdout.fnmatch_lines_random(
        [
            "grpc_channel*",
            "*A ``grpc.Channel`` to the service*",
            "http*",
            "*A ``requests.Session`` bound to the service's base URL*",
            "dynamodb*",
            "*Local mode only: a boto3 DynamoDB client*",
            "dualmode_target*",
            "*Where the suite runs*",
        ]
    )


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--markers")
    assert result.ret == 0
    result.stdout.fnmatch_lines_random(
        ["@pytest.mark.local_only*", "@pytest.mark.remote_only*", "@pytest.mark.destructive*"]
    )


def test_local_mode_forces_fake_credentials(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDREALLOOKING")
    monkeypatch.setenv("AWS_PROFILE", "production")
    pytester.makepyfile("""
        import os
        def test_env(dualmode_target):
            assert os.environ["AWS_ACCESS_KEY_ID"] != "AKIDREALLOOKING"
            assert "AWS_PROFILE" not in os.environ
            assert os.environ["AWS_EC2_METADATA_DISABLED"] == "true"
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_dynamodb_endpoint_uses_the_external_server(pytester: pytest.Pytester, start_moto: Any) -> None:
    import boto3

    # A server in another process, as --dynamodb-endpoint is meant for (moto's own server here).
    with start_moto() as url:
        pytester.makepyfile(f"""
            def test_external(dynamodb, dynamodb_endpoint):
                assert dynamodb_endpoint == "{url}"
                dynamodb.create_table(
                    TableName="made-by-test",
                    KeySchema=[{{"AttributeName": "k", "KeyType": "HASH"}}],
                    AttributeDefinitions=[{{"AttributeName": "k", "AttributeType": "S"}}],
                    BillingMode="PAY_PER_REQUEST",
                )
        """)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--dynamodb-endpoint", url)
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines([f"dualmode: local, dynamodb {url}*"])
        # The table is on the external server, not in an embedded one that ended with the run.
        client = boto3.client(
            "dynamodb",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=FAKE_KEY_ID,
            aws_secret_access_key=FAKE_SECRET,
        )
        assert client.list_tables()["TableNames"] == ["made-by-test"]


def test_unreachable_dynamodb_endpoint_is_a_clear_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ddb(dynamodb):\n    pass\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--dynamodb-endpoint", "http://127.0.0.1:9", "--connect-timeout", "1"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*--dynamodb-endpoint http://127.0.0.1:9 did not answer ListTables within 1s*"]
    )


def test_secrets_never_reach_the_output(
    service_project: pytest.Pytester, running_service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
    token = "IQoJb3JpZ2luX2VjEXAMPLETOKENvalue1234567890abcdef"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLEREDACT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    service_project.makepyfile(
        test_leak="""
        import logging, os
        def test_leaks(http):
            response = http.get("/leak")
            print("secret in stdout:", os.environ["AWS_SECRET_ACCESS_KEY"])
            logging.getLogger("x").warning("token %s", os.environ["AWS_SESSION_TOKEN"])
            assert response.request.headers["Authorization"] == "nope", dict(response.request.headers)
        """
    )
    junit = service_project.path / "junit.xml"
    result = service_project.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-rA",
        f"--junitxml={junit}",
        "--http-addr",
        running_service["http"],
        "test_leak.py",
    )
    result.assert_outcomes(failed=1)
    everything = result.stdout.str() + result.stderr.str() + junit.read_text()
    assert "Credential=" not in everything
    assert secret not in everything
    assert token not in everything
    assert "Signature=" not in everything
    assert "[REDACTED]" in everything


def test_request_timeout_bounds_every_call(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
        import time
        import grpc
        import pytest
        from pytest_dualmode import LocalService

        def slow(request, context):
            time.sleep(3)
            return b"late"

        def slow_app(environ, start_response):
            time.sleep(3)
            start_response("200 OK", [("Content-Length", "4")])
            return [b"late"]

        @pytest.fixture(scope="session")
        def dualmode_service():
            handler = grpc.method_handlers_generic_handler(
                "demo.Slow", {"Call": grpc.unary_unary_rpc_method_handler(slow)}
            )
            register = lambda server: server.add_generic_rpc_handlers((handler,))
            return LocalService(grpc=register, http=slow_app)
    """)
    pytester.makepyfile("""
        import time
        import grpc
        import pytest
        import requests

        def test_grpc_deadline(grpc_channel):
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as info:
                grpc_channel.unary_unary("/demo.Slow/Call")(b"x")
            assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert time.monotonic() - started < 2.5

        def test_explicit_timeout_wins(grpc_channel):
            with pytest.raises(grpc.RpcError) as info:
                grpc_channel.unary_unary("/demo.Slow/Call")(b"x", timeout=0.2)
            assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

        def test_http_timeout(http):
            with pytest.raises(requests.exceptions.ReadTimeout):
                http.get("/slow")
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--request-timeout", "0.7")
    result.assert_outcomes(passed=3)


@pytest.mark.parametrize("case", ["upper", "lower"])
def test_local_mode_ignores_proxy_variables(
    service_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """A proxy set for the outside world must not capture the local servers' loopback traffic."""
    import socket

    with socket.socket() as closed:  # a port nothing listens on: any proxied request would fail
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
    for name in ("http_proxy", "https_proxy", "all_proxy", "grpc_proxy"):
        monkeypatch.setenv(name.upper() if case == "upper" else name, dead)
    monkeypatch.setenv("NO_PROXY", "internal.example")
    monkeypatch.delenv("no_proxy", raising=False)
    service_project.makepyfile(
        test_endpoint="""
        import os
        import boto3

        def test_dynamodb_over_http(dynamodb_endpoint):
            client = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint)
            assert client.list_tables()["TableNames"] == []
            assert os.environ["NO_PROXY"] == "internal.example,127.0.0.1,localhost,::1"
        """
    )
    result = service_project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_local_front_door_answers_only_to_its_own_address(service_project: pytest.Pytester) -> None:
    """Like an IAM-auth front door, the local gRPC verifier refuses a signature made for another host."""
    service_project.makepyfile(
        test_host="""
        import grpc, pytest
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        from pytest_dualmode.sigv4.channel import SigningChannel

        def check(raw, signer, authority):
            stub = health_pb2_grpc.HealthStub(SigningChannel(raw, signer, authority))
            return stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status

        def test_other_hosts_are_refused(dualmode_grpc_addr, dualmode_signer):
            port = dualmode_grpc_addr.rpartition(":")[2]
            serving = health_pb2.HealthCheckResponse.SERVING
            with grpc.insecure_channel(dualmode_grpc_addr) as raw:
                assert check(raw, dualmode_signer, dualmode_grpc_addr) == serving
                assert check(raw, dualmode_signer, f"localhost:{port}") == serving
                with pytest.raises(grpc.RpcError) as err:
                    check(raw, dualmode_signer, "staging.internal:443")
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "not for this server" in err.value.details()
        """
    )
    result = service_project.runpytest_subprocess("-p", "no:cacheprovider", "test_host.py")
    result.assert_outcomes(passed=1)
