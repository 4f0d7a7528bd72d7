"""The README stays true: its options table lists exactly the plugin's options."""

from __future__ import annotations

from pathlib import Path

from pytest_dualmode.settings import OPTIONS

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_options_table_matches_the_plugin() -> None:
    rows = [line for line in README.read_text().splitlines() if line.startswith("| `--")]
    assert len(rows) == len(OPTIONS)
    for opt, row in zip(OPTIONS, rows, strict=True):
        assert row.startswith(f"| `{opt.flag}"), row
        assert f"`{opt.env}`" in row and f"`{opt.ini}`" in row
        assert row.endswith(f"| {opt.help} |"), row  # the help text pytest --help shows
        assert (f"`{opt.off_flag}`" in row) == opt.is_flag, row


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (README.parent / ".ci" / "run").read_text()
    assert ".venv/bin/python -m pytest -n 2" in README.read_text()
    assert "\n.venv/bin/python -m pytest -n 2\n" in ci
