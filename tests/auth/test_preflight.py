"""--preflight against real front doors on 127.0.0.1: the example service standalone behind its SigV4 front
door (both presets), and front doors that deny, so each failure is named: signature or authorisation."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from pytest_dualmode.preflight import classify_http

TRIVIAL = "def test_ok():\n    pass\n"

ADD = """
import uuid

def test_add_and_get(http, grpc_channel):
    account = f"pf-{uuid.uuid4()}"
    body = {"account_id": account, "email": "a@example.com", "reason": "preset"}
    assert http.post("/v1/suppressions", json=body).status_code == 201
    assert http.get(f"/v1/suppressions/{account}/a@example.com").json()["reason"] == "preset"
"""


@pytest.mark.parametrize("service", ["vpc-lattice-svcs", "execute-api"])
def test_each_preset_passes_preflight_and_signs_payloads_its_way(
    pytester: pytest.Pytester, example_factory: Any, aws_env: Any, service: str
) -> None:
    ready = example_factory(service)
    pytester.makepyfile(test_add=ADD)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--addr", ready["grpc"], "--http-addr", ready["http"], "--grpc-plaintext",
        "--sigv4-service", service, "--preflight",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    assert aws_env["AWS_SECRET_ACCESS_KEY"] not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize(
    ("client", "server"), [("vpc-lattice-svcs", "execute-api"), ("execute-api", "vpc-lattice-svcs")]
)
def test_a_preset_the_front_door_does_not_expect_is_a_signature_failure(
    pytester: pytest.Pytester, example_factory: Any, aws_env: Any, client: str, server: str
) -> None:
    ready = example_factory(server)
    pytester.makepyfile(test_ok=TRIVIAL)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--addr", ready["grpc"], "--http-addr", ready["http"], "--grpc-plaintext",
        "--sigv4-service", client, "--preflight",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"*--addr {ready['grpc']}: signature rejected: gRPC UNAUTHENTICATED*--sigv4-service*",
            f"*--http-addr {ready['http']}: signature rejected: HTTP 403*",
        ]
    )


def test_a_wrong_secret_is_a_signature_failure_and_never_printed(
    pytester: pytest.Pytester, example_factory: Any, aws_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready = example_factory("vpc-lattice-svcs")
    wrong = "wrong-" + aws_env["AWS_SECRET_ACCESS_KEY"]
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong)
    pytester.makepyfile(test_ok=TRIVIAL)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--addr", ready["grpc"], "--http-addr", ready["http"], "--grpc-plaintext",
        "--preflight",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*signature rejected: gRPC UNAUTHENTICATED*", "*signature rejected: HTTP 403*"]
    )
    assert wrong not in result.stdout.str() + result.stderr.str()


def test_a_denying_front_door_is_an_authorisation_failure(
    pytester: pytest.Pytester, http_server_factory: Any, grpc_server_factory: Any, aws_env: Any
) -> None:
    denied = (403, {"x-amzn-ErrorType": "AccessDeniedException"}, b'{"Message": "User: x is not authorized"}')
    http_url = http_server_factory(reply=denied)
    grpc_addr, _ = grpc_server_factory(deny=grpc.StatusCode.PERMISSION_DENIED)
    pytester.makepyfile(test_ok=TRIVIAL)
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--addr",
        grpc_addr,
        "--grpc-plaintext",
        "--http-addr",
        http_url,
        "--preflight",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"*--addr {grpc_addr}: authorisation rejected: gRPC PERMISSION_DENIED*IAM or auth policy*",
            f"*--http-addr {http_url}: authorisation rejected: HTTP 403 AccessDeniedException*",
        ]
    )


def test_api_gateways_signature_answer_is_a_signature_failure(
    pytester: pytest.Pytester, http_server_factory: Any, aws_env: Any
) -> None:
    body = b'{"message": "The request signature we calculated does not match the signature you provided."}'
    http_url = http_server_factory(reply=(403, {"x-amzn-ErrorType": "InvalidSignatureException"}, body))
    pytester.makepyfile(test_ok=TRIVIAL)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--http-addr", http_url, "--preflight")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*--http-addr {http_url}: signature rejected: HTTP 403 InvalidSignatureException*"]
    )


def test_without_preflight_the_same_door_lets_the_run_start(
    pytester: pytest.Pytester, http_server_factory: Any, aws_env: Any
) -> None:
    http_url = http_server_factory(reply=(403, {"x-amzn-ErrorType": "AccessDeniedException"}, b"{}"))
    pytester.makepyfile(test_ok=TRIVIAL)
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "--http-addr", http_url).assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("status", "error_type", "body", "signed", "step"),
    [
        (200, "", "", True, None),
        (404, "", "no route", True, None),
        (502, "", "bad gateway", True, None),
        (401, "", "", True, "signature"),
        (403, "InvalidSignatureException", "", True, "signature"),
        (403, "", '{"message":"Missing Authentication Token"}', False, "signature"),
        (403, "MissingAuthenticationTokenException", "", False, "signature"),
        (403, "", '{"message":"Missing Authentication Token"}', True, "route"),
        (403, "MissingAuthenticationTokenException", "", True, "route"),
        (403, "IncompleteSignatureException", "Missing Authentication Token", True, "signature"),
        (403, "", '{"error": {"code": "UNAUTHENTICATED"}}', True, "signature"),
        (403, "AccessDeniedException", "", True, "authorisation"),
        (403, "", '{"message":"Forbidden"}', True, "authorisation"),
    ],
)
def test_http_answers_are_classified(
    status: int, error_type: str, body: str, signed: bool, step: str | None
) -> None:
    assert classify_http(status, error_type, body, signed=signed) == step


def test_a_path_api_gateway_serves_no_method_on_is_named_as_the_route_with_the_fix(
    pytester: pytest.Pytester, http_server_factory: Any, aws_env: Any
) -> None:
    http_url = http_server_factory(routes={"/health"})
    pytester.makepyfile(test_ok=TRIVIAL)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--http-addr", http_url, "--preflight")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*--http-addr {http_url}: route not found: HTTP 403 *signed GET /:*--preflight-path*"]
    )
    passed = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--http-addr", http_url, "--preflight", "--preflight-path", "/health"
    )
    passed.assert_outcomes(passed=1)


@pytest.mark.parametrize("path", ["health", "https://api.internal/health", "/a b", "/x#frag"])
def test_a_preflight_path_that_is_not_a_path_is_refused(pytester: pytest.Pytester, path: str) -> None:
    pytester.makepyfile(test_ok=TRIVIAL)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--http-addr", "http://127.0.0.1:9", "--preflight-path", path
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--preflight-path {path!r}*"])


def test_preflight_runs_in_a_collect_only_run_so_invoke_checks_before_fanning_out(
    pytester: pytest.Pytester, http_server_factory: Any, aws_env: Any
) -> None:
    http_url = http_server_factory(reply=(403, {"x-amzn-ErrorType": "AccessDeniedException"}, b"{}"))
    pytester.makepyfile(test_ok=TRIVIAL)
    plain = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--http-addr", http_url, "--collect-only")
    assert plain.ret == pytest.ExitCode.OK  # collecting alone still checks nothing
    checked = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--http-addr", http_url, "--collect-only", "--preflight"
    )
    assert checked.ret == pytest.ExitCode.USAGE_ERROR
    checked.stderr.fnmatch_lines(["*authorisation rejected: HTTP 403 AccessDeniedException*"])
