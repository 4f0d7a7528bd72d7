"""The handler's small parts alone: selection, cutting, redaction, JUnit, the plugin flag, the alarm."""

from __future__ import annotations

import io
import signal
import time
from typing import Any

import pytest

from pytest_dualmode.aws_lambda import junit
from pytest_dualmode.aws_lambda.deadline import Deadline, DeadlineInterrupt, HardStop
from pytest_dualmode.aws_lambda.environment import plugin_args
from pytest_dualmode.aws_lambda.recorder import Selection, cut
from pytest_dualmode.aws_lambda.result import fit
from pytest_dualmode.redaction import MASK as MARK
from pytest_dualmode.redaction import RedactingStream, Redactor


@pytest.mark.parametrize(
    ("selected", "nodeid", "hit"),
    [
        ("t/test_a.py::test_x", "t/test_a.py::test_x", True),
        ("t/test_a.py::test_x", "t/test_a.py::test_x[1-2]", True),
        ("t/test_a.py::test_x", "t/test_a.py::test_xy", False),
        ("t/test_a.py::TestC", "t/test_a.py::TestC::test_m[p]", True),
        ("t/test_a.py", "t/test_a.py::TestC::test_m", True),
        ("./t/", "t/test_a.py::test_x", True),
        ("t", "tests/test_a.py::test_x", False),
        ("t/test_a.py::test_x[1]", "t/test_a.py::test_x[2]", False),
    ],
)
def test_selection_matches_ids_and_their_prefixes(selected: str, nodeid: str, hit: bool) -> None:
    assert (Selection([selected]).match(nodeid) is not None) is hit


def test_selection_paths_are_the_files_once() -> None:
    assert Selection(["a.py::x", "a.py::y", "b/", "c.py"]).paths() == ["a.py", "b", "c.py"]


def test_cut_keeps_both_ends_with_a_marker() -> None:
    text = "HEAD" + "m" * 10_000 + "TAIL"
    short = cut(text, 1000)
    assert (
        len(short) <= 1000
        and short.startswith("HEAD")
        and short.endswith("TAIL")
        and "characters cut" in short
    )
    assert cut("small", 1000) == "small"


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/x/aws4_request, Signature=0a1b2c",
        "headers={'authorization': 'AWS4-HMAC-SHA256 Credential=AKID, Signature=deadbeef'}",
        "X-Amz-Security-Token: FQoGZXIvYXdzEBYaDHhEXAMPLE",
        "url?X-Amz-Signature=0123456789abcdef0123456789abcdef&x=1",
        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY",
        'aws_session_token = "IQoJb3JpZ2luEXAMPLE"',
    ],
)
def test_the_redactor_masks_the_usual_secrets(text: str) -> None:
    redacted = Redactor({})(text)
    assert MARK in redacted
    for secret in (
        "0a1b2c",
        "deadbeef",
        "FQoGZXIvYXdzEBYaDHhEXAMPLE",
        "0123456789abcdef01",
        "wJalrXUtn",
        "IQoJb3J",
    ):
        assert secret not in redacted


def test_the_redactor_also_masks_the_environment_secret_values() -> None:
    redact = Redactor({"AWS_SECRET_ACCESS_KEY": "plain-secret-value", "AWS_SESSION_TOKEN": "short"})
    assert redact("x plain-secret-value y short") == f"x {MARK} y short"  # too short to mask safely


def test_the_redacting_stream_holds_a_line_until_it_is_whole() -> None:
    target = io.StringIO()
    stream = RedactingStream(target, Redactor({"AWS_SECRET_ACCESS_KEY": "split-secret-value"}))
    stream.write("before split-sec")
    stream.flush()
    assert target.getvalue() == ""
    stream.write("ret-value after\nnext ")
    stream.close()
    assert target.getvalue() == f"before {MARK} after\nnext " and "split" not in stream.tail
    assert not stream.isatty()


def test_junit_merge_adds_not_run_tests_as_skipped() -> None:
    report = (
        b'<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="1" skipped="0">'
        b'<testcase classname="t.test_a" name="test_x" time="0.1"/></testsuite></testsuites>'
    )
    xml = junit.merge(
        [report, report], [{"nodeid": "t/test_a.py::TestC::test_y[1]", "reason": "deadline: late"}]
    )
    assert xml is not None
    text = junit.decode(junit.encode(xml, lambda s: s))
    assert text is not None and text.count("<testsuite ") == 2 and 'tests="2" skipped="1"' in text
    assert 'classname="t.test_a.TestC" name="test_y[1]"' in text
    assert 'type="pytest-dualmode.not_run" message="not run: deadline: late"' in text
    assert junit.merge([], []) is None
    interrupted = (
        b'<testsuites><testsuite name="pytest" tests="1" failures="1" skipped="0">'
        b'<testcase classname="t.test_a" name="test_x"><failure message="DeadlineInterrupt"/></testcase>'
        b"</testsuite></testsuites>"
    )
    once = (
        junit.merge([interrupted], [{"nodeid": "t/test_a.py::test_x", "reason": "deadline: cut"}]) or b""
    ).decode()
    assert once.count("<testcase") == 1 and "<failure" not in once and 'failures="0" skipped="1"' in once
    with pytest.raises(ValueError, match="gzip\\+base64"):
        junit.decode({"encoding": "zip", "data": ""})


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ([], {}, []),  # the entry point is visible in this environment
        ([], {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}, ["-p", "pytest_dualmode.plugin"]),
        (["-p", "pytest_dualmode.plugin"], {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}, []),
        (["-pno:dualmode"], {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}, []),
    ],
)
def test_the_plugin_flag_is_added_only_when_pytest_would_not_load_it(
    args: list[str], env: dict[str, str], expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert plugin_args(args) == expected


def test_fit_keeps_counts_and_marks_the_cut() -> None:
    tests = [{"nodeid": f"t.py::test_{i}", "outcome": "passed", "duration": 0.0} for i in range(2000)]
    tests[0] = {**tests[0], "outcome": "failed", "message": "m" * 5000}
    result = {
        "counts": {"passed": 1999, "failed": 1},
        "tests": tests,
        "not_run": [],
        "junit_xml": None,
        "summary": "s",
    }
    small = fit(result, 10_000, cut)
    assert (
        small["truncated"]
        and small["counts"] == result["counts"]
        and small["tests"][0]["outcome"] == "failed"
    )
    assert (
        len(result["tests"]) == 2000 and result["tests"][0]["message"] == "m" * 5000
    )  # the input is untouched
    assert fit(result, 10**8, cut) is result


def test_a_context_that_cannot_tell_the_time_means_no_deadline() -> None:
    class Broken:
        def get_remaining_time_in_millis(self) -> int:
            raise RuntimeError("no clock")

    assert Deadline.from_context(Broken(), 2000).at is None
    assert Deadline.from_context(object(), 2000).remaining_ms() is None
    assert not Deadline(None, 2000).too_late_to_start()


def test_the_alarm_interrupts_then_restores_the_previous_handler() -> None:
    previous = signal.getsignal(signal.SIGALRM)
    deadline = Deadline(300, 400)  # interrupt at half the margin: after about 100 ms
    with pytest.raises(DeadlineInterrupt), HardStop(deadline) as stop:
        assert stop.available
        time.sleep(5)
    assert stop.fired == 1 and signal.getsignal(signal.SIGALRM) == previous
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_the_alarm_never_fires_into_code_after_the_run(monkeypatch: Any) -> None:
    stop = HardStop(Deadline(10_000, 0))
    with stop:
        pass
    stop._on_alarm(signal.SIGALRM, None)  # a signal already on its way when the run ended: ignored
    assert stop.fired == 0


def test_the_alarm_waits_while_pytest_is_between_tests() -> None:
    busy = [False]
    asked: list[bool] = []

    def is_busy() -> bool:
        asked.append(busy[0])
        return busy[0]

    with pytest.raises(DeadlineInterrupt), HardStop(Deadline(300, 400), busy=is_busy) as stop:
        # The alarm comes after about 100 ms: pytest is "between tests", so it waits (and asks again).
        limit = time.monotonic() + 5
        while len(asked) < 2:
            assert time.monotonic() < limit, "the alarm never came"
            time.sleep(0.01)
        assert stop.fired == 0
        busy[0] = True
        time.sleep(5)
    assert stop.fired == 1
