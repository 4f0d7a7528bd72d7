"""The README stays true: its options table lists exactly the plugin's options."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_dualmode.settings import OPTIONS

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_options_table_matches_the_plugin() -> None:
    rows = [line for line in README.read_text().splitlines() if line.startswith("| `--")]
    assert len(rows) == len(OPTIONS)
    for opt, row in zip(OPTIONS, rows, strict=True):
        assert row.startswith(f"| `{opt.flag}"), row
        assert f"`{opt.env}`" in row and f"`{opt.ini}`" in row
        assert (f"`{opt.off_flag}`" in row) == opt.is_flag, row  # an on/off option's off form
        # What selects remote mode is said the same way in the table and in pytest --help.
        assert ("selects remote mode" in row) == ("selects remote mode" in opt.help), row


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (README.parent / ".ci" / "run").read_text()
    assert ".venv/bin/python -m pytest -n 2" in README.read_text()
    assert "\n.venv/bin/python -m pytest -n 2\n" in ci


def test_the_reliability_suite_is_its_own_ci_step_and_left_out_by_default() -> None:
    import tomllib

    ini = tomllib.loads((README.parent / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "-m 'not reliability'" in ini["addopts"]
    ci = (README.parent / ".ci" / "run").read_text()
    assert "\n.venv/bin/python -m pytest -m reliability -n 2\n" in ci
    assert ".venv/bin/python -m pytest -m reliability -n 2" in README.read_text()


def test_pytester_runs_do_not_inherit_the_suites_marker_expression(pytester: pytest.Pytester) -> None:
    """The suite's pytester projects have their own (empty) ini: a test marked reliability in one runs."""
    pytester.makepyfile("import pytest\n@pytest.mark.reliability\ndef test_marked():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
