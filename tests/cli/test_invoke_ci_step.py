"""A CI step end to end: a real packaged suite through ``dualmode invoke --emulate`` as a GitHub Actions
step, with ``--json``, ``--junitxml`` and ``--html``: annotations at the failing lines, the step summary,
and an HTML timeline with a bar per shard."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pytest_dualmode.cli import main
from pytest_dualmode.cli.package import PackageOptions, build_package, wheels

LOCAL_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
SUITE = """\
def test_ok():
    pass


def test_bad():
    assert 1 == 2, "always"


def test_also_ok():
    pass
"""

pytestmark = pytest.mark.skipif(
    LOCAL_PYTHON not in wheels.PYTHONS, reason=f"Lambda has no Python {LOCAL_PYTHON} runtime to package for"
)


def test_a_github_step_gets_annotations_a_summary_and_an_html_timeline(tmp_path, monkeypatch, capsys):
    project = tmp_path / "repo"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_ci.py").write_text(SUITE)
    package = tmp_path / "suite.zip"
    build_package(
        PackageOptions(
            output=package, tests=[str(project / "tests")], python=LOCAL_PYTHON, without_boto=True
        ),
        log=lambda _: None,
    )
    monkeypatch.chdir(project)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "ci-secret-never-printed-0123456789")
    out_files = {"json": tmp_path / "r.json", "junitxml": tmp_path / "j.xml", "html": tmp_path / "r.html"}
    options = [a for key, path in out_files.items() for a in (f"--{key}", str(path))]
    args = ["invoke", "--emulate", str(package), "--shards", "2", "--env", f"TMPDIR={tmp_path}", *options]
    code = main([*args, "--", "-k", "test_ok or test_bad or test_also_ok"])
    out, err = capsys.readouterr()

    assert code == 1
    result = json.loads(out_files["json"].read_text())
    outcomes = {t["nodeid"]: t["outcome"] for t in result["tests"]}
    assert outcomes == {
        "test_ci.py::test_ok": "passed",
        "test_ci.py::test_bad": "failed",
        "test_ci.py::test_also_ok": "passed",
    }
    # the package's root was tests/: the annotation names the file as the repository has it
    errors = [line for line in out.splitlines() if line.startswith("::error")]
    assert len(errors) == 1
    assert errors[0].startswith(
        "::error file=tests/test_ci.py,line=6,title=failed%3A test_ci.py%3A%3Atest_bad::"
    )
    assert "AssertionError: always" in errors[0]
    assert out.rstrip().splitlines()[-1].startswith("== 2 passed, 1 failed")
    summary = (tmp_path / "summary.md").read_text()
    assert "## dualmode invoke: failed, exit code 1" in summary and "test_ci.py::test_bad" in summary
    page = out_files["html"].read_text()
    assert page.count('<div class="bar ') == len(result["shards"]) == 2
    assert "AssertionError: always" in page and "ci-secret-never-printed" not in page + out + err
    assert "dualmode invoke: [2/2] shard" in err
    assert Path(out_files["junitxml"]).read_text().count("<testcase") == 3
