"""Very large output: the response stays under Lambda's 6 MB, says it was cut; S3 keeps the full report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_dualmode.aws_lambda.junit import decode
from pytest_dualmode.aws_lambda.result import LAMBDA_RESPONSE_LIMIT, TRUNCATED

HUGE = {
    "test_huge.py": """
        import base64, os
        def test_prints_8_mb():
            data = base64.encodebytes(os.urandom(6_000_000)).decode()  # 8 MB, hardly compressible
            print(data)
        def test_fails():
            assert False, "small-failure"
    """
}
MANY_FAILURES = {
    "test_many.py": """
        import pytest
        @pytest.mark.parametrize("n", range(30))
        def test_fails(n):
            assert False, f"failure-{n}-" + "y" * 3000
    """
}


def _size(result: dict[str, Any]) -> int:
    return len(json.dumps(result))


def test_a_result_over_6_mb_is_cut_and_says_so(
    task_root: Any, invoke: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    task_root.write(HUGE)
    result = invoke({"args": ["-o", "junit_logging=all"], "raise_on_failure": False})
    assert _size(result) <= LAMBDA_RESPONSE_LIMIT
    assert result["truncated"] is True and result["junit_xml"] is None
    assert result["counts"] == {"passed": 1, "failed": 1, "skipped": 0, "errors": 0, "not_run": 0}
    assert [t["outcome"] for t in result["tests"]] == ["passed", "failed"] and "small-failure" in result[
        "tests"
    ][1]["message"]
    assert result["summary"].endswith(TRUNCATED)
    assert capsys.readouterr().out.rstrip().endswith(TRUNCATED)


def test_with_a_small_limit_messages_go_first_then_the_xml(task_root: Any, invoke: Any) -> None:
    task_root.write(MANY_FAILURES)
    result = invoke({"env": {"DUALMODE_MAX_RESPONSE_BYTES": "40000"}, "raise_on_failure": False})
    assert _size(result) <= 40_000 and result["truncated"] is True
    assert result["counts"]["failed"] == 30 and len(result["tests"]) == 30
    messages = [t.get("message") for t in result["tests"]]
    assert all(m is None or len(m) <= 600 for m in messages)
    roomy = invoke({"env": {"DUALMODE_MAX_RESPONSE_BYTES": "300000"}, "raise_on_failure": False})
    assert "truncated" not in roomy and roomy["junit_xml"] is not None


@pytest.fixture
def s3_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An S3 bucket in moto's in-process mock, and a client to read it back."""
    import boto3
    from moto import mock_aws

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="results")
        yield client


def test_the_full_report_goes_to_s3_and_the_response_points_to_it(
    task_root: Any, invoke: Any, s3_bucket: Any
) -> None:
    task_root.write(MANY_FAILURES)
    env = {"DUALMODE_RESULTS_S3": "s3://results/runs/", "DUALMODE_MAX_RESPONSE_BYTES": "40000"}
    result = invoke({"env": env, "raise_on_failure": False})
    assert result["report_s3"] == "s3://results/runs/req-1.json" and result["truncated"] is True
    assert "dualmode: full report s3://results/runs/req-1.json" in result["summary"]
    body = s3_bucket.get_object(Bucket="results", Key="runs/req-1.json")["Body"].read()
    full = json.loads(body)
    assert "truncated" not in full and full["counts"] == result["counts"]
    assert all("failure-" in t["message"] for t in full["tests"])
    xml = decode(full["junit_xml"])
    assert xml is not None and xml.count("<testcase") == 30


def test_a_failed_upload_keeps_the_result(task_root: Any, invoke: Any, s3_bucket: Any) -> None:
    task_root.write({"test_ok.py": "def test_ok():\n    pass\n"})
    result = invoke({"env": {"DUALMODE_RESULTS_S3": "s3://no-such-bucket/x"}})
    assert result["outcome"] == "passed" and "report_s3" not in result
    assert "NoSuchBucket" in result["report_s3_error"]
