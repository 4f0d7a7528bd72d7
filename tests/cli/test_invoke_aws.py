"""The AWS backend on the wire: boto3's Lambda client against botocore's Stubber and a fake Lambda HTTP API.

Stubber checks the exact Invoke parameters and response parsing; the fake API (real HTTP on 127.0.0.1)
covers what only a socket shows: the read timeout, and that botocore never retries an invoke by itself.
"""

from __future__ import annotations

import base64
import io
import json

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from test_invoke_fakes import FakeLambda, FakeSuite, Reply, make_result

from pytest_dualmode.cli import CliError
from pytest_dualmode.cli.invoke.backend import AwsBackend, Throttled, decode_log_tail, parse_payload
from pytest_dualmode.cli.invoke.fanout import Backoff, invoke_with_backoff

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")


def body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def stubbed(qualifier: str | None = "live") -> tuple[AwsBackend, Stubber]:
    client = boto3.client("lambda", region_name="eu-west-1")
    backend = AwsBackend("system-tests", qualifier=qualifier, timeout_s=60, client=client)
    return backend, Stubber(client)


def invoke_params(event: dict, qualifier: str | None = "live") -> dict:
    params = {
        "FunctionName": "system-tests",
        "InvocationType": "RequestResponse",
        "LogType": "Tail",
        "Payload": json.dumps(event).encode(),
    }
    if qualifier:
        params["Qualifier"] = qualifier
    return params


def test_invoke_is_synchronous_with_the_log_tail_and_parses_the_result():
    backend, stub = stubbed()
    result = make_result([{"nodeid": "t.py::a", "outcome": "passed", "duration": 0.1}])
    log = "START RequestId: 1\n== 1 passed in 0.1s ==\nEND RequestId: 1\n"
    event = {"args": ["-k", "a"], "raise_on_failure": False}
    stub.add_response(
        "invoke",
        {
            "StatusCode": 200,
            "LogResult": base64.b64encode(log.encode()).decode(),
            "Payload": body(json.dumps(result).encode()),
        },
        invoke_params(event),
    )
    with stub:
        outcome = backend.invoke(event)
    stub.assert_no_pending_responses()
    assert outcome.result == result and outcome.function_error is None and outcome.error is None
    assert outcome.log_tail == log
    assert backend.description == "system-tests:live in eu-west-1"


def test_a_function_error_without_a_result_is_a_crash_that_may_be_re_run():
    backend, stub = stubbed(qualifier=None)
    payload = {
        "errorType": "Runtime.ExitError",
        "errorMessage": "RequestId: 1 Error: Runtime exited with error: signal: killed",
    }
    stub.add_response(
        "invoke",
        {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": body(json.dumps(payload).encode())},
        invoke_params({}, qualifier=None),
    )
    with stub:
        outcome = backend.invoke({})
    assert outcome.result is None and outcome.function_error == "Unhandled" and outcome.rerun_ok
    assert outcome.error == f"function error (Unhandled): Runtime.ExitError: {payload['errorMessage']}"


def test_a_function_error_carrying_a_full_result_keeps_the_result():
    backend, stub = stubbed()
    result = make_result([{"nodeid": "t.py::a", "outcome": "failed", "duration": 0.1, "message": "boom"}])
    stub.add_response(
        "invoke",
        {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": body(json.dumps(result).encode())},
    )
    with stub:
        outcome = backend.invoke({})
    assert outcome.result == result and outcome.function_error == "Unhandled" and not outcome.rerun_ok


def test_throttling_is_raised_as_throttled_for_the_fan_out_to_back_off():
    backend, stub = stubbed()
    stub.add_client_error("invoke", "TooManyRequestsException", "Rate Exceeded.", http_status_code=429)
    with stub, pytest.raises(Throttled, match="TooManyRequestsException: Rate Exceeded"):
        backend.invoke({})


def test_throttling_then_success_through_the_backoff():
    backend, stub = stubbed()
    result = make_result([{"nodeid": "t.py::a", "outcome": "passed", "duration": 0.1}])
    for _ in range(2):
        stub.add_client_error("invoke", "TooManyRequestsException", "Rate Exceeded.", http_status_code=429)
    stub.add_response("invoke", {"StatusCode": 200, "Payload": body(json.dumps(result).encode())})
    waits: list[float] = []
    with stub:
        outcome, throttled, ran = invoke_with_backoff(backend, {}, Backoff(), sleep=waits.append)
    stub.assert_no_pending_responses()
    assert (throttled, ran, outcome.result) == (2, True, result)
    assert len(waits) == 2 and 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0


@pytest.mark.parametrize(
    ("code", "status", "fatal", "rerun_ok"),
    [
        ("ResourceNotFoundException", 404, True, False),
        ("AccessDeniedException", 403, True, False),
        ("RequestTooLargeException", 413, False, False),
        ("ServiceException", 500, False, True),
    ],
)
def test_client_errors_are_outcomes_that_say_whether_to_re_run(code, status, fatal, rerun_ok):
    backend, stub = stubbed()
    stub.add_client_error("invoke", code, "details", http_status_code=status)
    with stub:
        outcome = backend.invoke({})
    assert outcome.result is None and outcome.error == f"{code}: details"
    assert (outcome.fatal, outcome.rerun_ok) == (fatal, rerun_ok)


def test_log_tails_are_decoded_and_redacted():
    text = (
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/eu-west-1/svc/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={'ab' * 32}\n"
        f"secret={SECRET}\nX-Amz-Security-Token: FQoGZXIvYXdzE\n"
    )
    decoded = decode_log_tail(base64.b64encode(text.encode()).decode())
    assert SECRET not in decoded and "ab" * 32 not in decoded and "FQoGZXIvYXdzE" not in decoded
    assert "Authorization: [REDACTED]" in decoded and "X-Amz-Security-Token: [REDACTED]" in decoded
    assert decode_log_tail(None) == ""
    assert decode_log_tail("@@@") in ("", "(log tail was not valid base64)")


def test_unexpected_payloads_are_explained_without_secrets():
    assert parse_payload(b"", None) == (None, "empty response")
    result, error = parse_payload(f"oops {SECRET}".encode(), None)
    assert (
        result is None
        and error.startswith("response is not a pytest-dualmode result: oops")
        and SECRET not in error
    )


def test_the_invoke_client_never_retries_and_reads_past_the_function_timeout():
    backend = AwsBackend("f", timeout_s=120)
    config = backend._client.meta.config
    assert config.retries == {"total_max_attempts": 1, "mode": "standard"}
    assert config.read_timeout == 150


def test_a_server_error_is_sent_once_no_botocore_retry():
    with FakeLambda(
        lambda event, n: Reply(500, {"message": "internal"}, error_code="ServiceException")
    ) as fake:
        backend = AwsBackend("f", endpoint_url=fake.url, timeout_s=5)
        outcome = backend.invoke({"args": []})
    assert len(fake.invokes()) == 1  # botocore's standard mode would have tried 3 times
    assert outcome.result is None and outcome.rerun_ok and outcome.error.startswith("ServiceException")


def test_an_http_429_is_throttled_after_a_single_request():
    with FakeLambda(
        lambda event, n: Reply(429, {"message": "Rate Exceeded."}, error_code="TooManyRequestsException")
    ) as fake:
        backend = AwsBackend("f", endpoint_url=fake.url, timeout_s=5)
        with pytest.raises(Throttled):
            backend.invoke({})
    assert len(fake.invokes()) == 1


def test_a_read_timeout_is_reported_and_not_re_run():
    suite = FakeSuite({"t.py::a": ("passed", 0.1)})
    with FakeLambda(lambda event, n: Reply(body=suite.run(event), delay_s=2.0)) as fake:
        backend = AwsBackend("f", endpoint_url=fake.url, timeout_s=0.2, read_timeout_margin_s=0.3)
        outcome = backend.invoke({})
    assert outcome.result is None and not outcome.rerun_ok
    assert "read timeout" in outcome.error and "may still be running" in outcome.error
    assert len(fake.invokes()) == 1


def test_the_function_timeout_is_read_from_its_configuration():
    with FakeLambda(lambda event, n: Reply(body={}), timeout_s=300) as fake:
        backend = AwsBackend("f", qualifier="7", endpoint_url=fake.url)
    assert backend.function_timeout_s == 300 and backend.read_timeout_s == 330
    path = fake.requests[0][0]
    assert path.startswith("/2015-03-31/functions/f/configuration") and "Qualifier=7" in path


def test_a_missing_function_is_a_clear_error_naming_the_fix():
    expected = r"configuration of nope in eu-west-1: ResourceNotFoundException.*check --function-name"
    with FakeLambda(lambda event, n: Reply(body={})) as fake, pytest.raises(CliError, match=expected):
        AwsBackend("nope", endpoint_url=fake.url)


def test_no_region_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(CliError, match="no AWS region: pass --region"):
        AwsBackend("f", timeout_s=1)
