"""GitHub Actions: workflow-command escaping, annotations, the step summary, and the CLI's wiring."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from invoke_results import SECRET, full_result, plain_result
from test_invoke_fakes import FakeLambda, FakeSuite, suite_responder

from pytest_dualmode.cli import main
from pytest_dualmode.cli.invoke import github


def test_escaping_follows_githubs_rules_for_messages_and_properties():
    assert github.escape_data("100% a\r\nb: c, d") == "100%25 a%0D%0Ab: c, d"
    assert github.escape_property("100% a\r\nb: c, d") == "100%25 a%0D%0Ab%3A c%2C d"
    assert github.escape_data("%0A") == "%250A"  # an escape sequence in the text stays text


def test_the_location_is_the_last_traceback_line_in_the_tests_own_file():
    records = {t["nodeid"].rsplit("::", 1)[-1]: t for t in full_result()["tests"]}
    # the function reports absolute paths (/var/task/...); the node id's path is what the repo has
    assert github.location(records["test_delete_is_204_then_404"]) == ("tests/system/test_http_api.py", 41)
    # the failure was raised in a helper: the annotation points at the test's own line
    assert github.location(records["test_get_missing_is_not_found"]) == ("tests/system/test_grpc_api.py", 88)
    assert github.location({"nodeid": "t.py::x", "message": "no traceback"}) == ("t.py", None)


def test_annotations_for_failures_not_run_and_flaky_are_escaped_and_redacted():
    lines = github.commands(full_result())
    errors = [line for line in lines if line.startswith("::error ")]
    warnings = [line for line in lines if line.startswith("::warning ")]
    assert len(errors) == 3 and len(warnings) == 1
    assert errors[0].startswith(
        "::error file=tests/system/test_http_api.py,line=41,"
        "title=failed%3A tests/system/test_http_api.py%3A%3Atest_delete_is_204_then_404::"
    )
    assert "assert 500 == 204" in errors[0] and "%0A" in errors[0] and "\n" not in "".join(lines)
    assert "::assert 500 == 204%0A%0Adef test_delete" in errors[0]  # the crash line leads
    # no crash field (results drop it): the first "E" line of the traceback leads; % escaped, commas kept
    assert "::AssertionError: 100%25 wrong: a,b%0A%0Atests/system/test_grpc_api.py:88: in" in errors[1]
    assert errors[2].startswith("::error title=dualmode invoke%3A tests not run::1 tests did not run")
    assert warnings[0].startswith("::warning file=tests/system/test_grpc_api.py,title=flaky%3A ")
    assert "(2 attempts)" in warnings[0]
    assert SECRET not in "".join(lines) and "[REDACTED]" in errors[0]


def test_more_failures_than_github_shows_end_with_one_that_counts_the_rest():
    result = plain_result()
    failing = {"outcome": "failed", "duration": 0.1, "message": "tests/t.py:3: AssertionError"}
    result["tests"] = [{"nodeid": f"tests/t.py::test_{i}", **failing} for i in range(25)]
    lines = github.commands(result)
    assert len(lines) == github.MAX_ANNOTATIONS
    assert lines[-1] == "::error title=dualmode invoke::16 more failed tests; the job summary and the " + (
        "--junitxml / --json files list them all"
    )
    assert all(line.startswith("::error file=tests/t.py,line=3,") for line in lines[:-1])


def test_the_file_is_found_in_the_checkout_when_the_package_root_was_the_tests_folder(tmp_path):
    (tmp_path / "ci" / "suite").mkdir(parents=True)
    (tmp_path / "ci" / "suite" / "test_api.py").write_text("")
    (tmp_path / ".venv" / "lib").mkdir(parents=True)
    (tmp_path / ".venv" / "lib" / "test_api.py").write_text("")  # not the project's: skipped
    assert github.repository_path("test_api.py", tmp_path) == "ci/suite/test_api.py"
    assert github.repository_path("suite/test_api.py", tmp_path) == "ci/suite/test_api.py"
    assert github.repository_path("ci/suite/test_api.py", tmp_path) == "ci/suite/test_api.py"
    assert github.repository_path("test_other.py", tmp_path) == "test_other.py"  # not there: unchanged
    (tmp_path / "ci" / "test_api.py").write_text("")
    assert github.repository_path("test_api.py", tmp_path) == "test_api.py"  # two candidates: unchanged


def test_the_step_summary_has_the_verdict_shards_failures_flaky_not_run_and_cost():
    text = github.step_summary(full_result(), html_name="report.html")
    assert text.startswith("## dualmode invoke: failed, exit code 1\n")
    assert "| 3/4 | 1 | 1 passed | 3.7s | 2 | passed (Runtime.OutOfMemory) |" in text
    assert "### Failures (2)" in text
    assert "<code>tests/system/test_http_api.py::test_delete_is_204_then_404</code>" in text
    assert "### Flaky (1)" in text and "### Not run (1)" in text and "about $0.000231" in text
    assert "`report.html`" in text and SECRET not in text


def test_a_failure_text_with_backticks_cannot_close_its_code_block():
    result = plain_result()
    result["tests"] = [{"nodeid": "t.py::x", "outcome": "failed", "duration": 0, "message": "a\n````\n# b"}]
    text = github.step_summary(result)
    assert "`````text\na\n````\n# b\n`````" in text


def test_nothing_happens_outside_github_actions_and_the_summary_is_appended(tmp_path):
    out, warn = io.StringIO(), io.StringIO()
    github.report(full_result(), {"GITHUB_STEP_SUMMARY": str(tmp_path / "s.md")}, out, warn)
    assert out.getvalue() == "" and not (tmp_path / "s.md").exists()
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(tmp_path / "s.md")}
    (tmp_path / "s.md").write_text("earlier step\n")
    github.report(full_result(), env, out, warn)
    github.report(plain_result(), env, out, warn)
    summary = (tmp_path / "s.md").read_text()
    assert summary.startswith("earlier step\n") and summary.count("## dualmode invoke:") == 2
    assert out.getvalue().count("::error file=") == 4 and warn.getvalue() == ""


def test_an_unwritable_summary_is_a_warning_not_a_failure(tmp_path):
    out, warn = io.StringIO(), io.StringIO()
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(tmp_path / "missing" / "s.md")}
    github.report(plain_result(), env, out, warn)
    assert "::error" in out.getvalue() and "cannot append to GITHUB_STEP_SUMMARY" in warn.getvalue()


# -- through the CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def github_env(monkeypatch, tmp_path) -> Path:
    """A GitHub Actions step: GITHUB_ACTIONS, a step summary file, fake AWS credentials."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    return tmp_path / "summary.md"


SUITE = {
    "tests/test_m.py::test_ok": ("passed", 0.1),
    "tests/test_m.py::test_bad": ("failed", 0.2, "E   assert 1 == 2\n\ntests/test_m.py:9: AssertionError"),
}


def test_the_cli_annotates_on_stdout_and_writes_the_summary_and_html(github_env, tmp_path, capsys):
    with FakeLambda(suite_responder(FakeSuite(SUITE))) as fake:
        args = ["--function-name", "f", "--endpoint-url", fake.url, "--shards", "2"]
        code = main(["invoke", *args, "--html", str(tmp_path / "r.html")])
    out, err = capsys.readouterr()
    assert code == 1
    assert "::error file=tests/test_m.py,line=9,title=failed%3A tests/test_m.py%3A%3Atest_bad::" in out
    assert out.rstrip().splitlines()[-1].startswith("== 1 passed, 1 failed")  # the summary stays last
    assert "FAILED tests/test_m.py::test_bad - assert 1 == 2\n" in out
    assert "::error" not in err and "## dualmode invoke: failed" in github_env.read_text()
    assert (tmp_path / "r.html").read_text().count('data-shard="') == 2


def test_with_json_to_stdout_the_annotations_and_report_go_to_stderr(github_env, capsys):
    with FakeLambda(suite_responder(FakeSuite(SUITE))) as fake:
        code = main(
            ["invoke", "--function-name", "f", "--endpoint-url", fake.url, "--shards", "2", "--json", "-"]
        )
    out, err = capsys.readouterr()
    assert code == 1
    result = json.loads(out)  # stdout is exactly the JSON result
    assert result["counts"]["failed"] == 1 and len(result["tests"]) == 2
    assert "::error file=tests/test_m.py,line=9," in err and "== 1 passed, 1 failed" in err
    assert not Path("-").exists()


def test_bad_html_path_is_refused_before_any_invoke(github_env, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["invoke", "--function-name", "f", "--html", str(tmp_path / "nope" / "r.html")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--html" in err and "does not exist; create it" in err
