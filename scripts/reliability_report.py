"""Run the reliability suite and rewrite docs/reliability.md from the figures it records.

    python scripts/reliability_report.py                 # the whole suite, 30 s load run included
    python scripts/reliability_report.py -k "not load"   # extra arguments go to pytest

The suite runs in one process (pytest-xdist off), so that one session holds every figure; with
DUALMODE_WRITE_RELIABILITY_DOC=1 that session writes the page at its end. The page is rewritten only when
the run passed. Exit code: pytest's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"


def main(argv: list[str]) -> int:
    """Run ``pytest -m reliability`` with the doc switch on; returns pytest's exit code."""
    before = DOC.read_bytes() if DOC.exists() else None
    env = {**os.environ, "DUALMODE_WRITE_RELIABILITY_DOC": "1"}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-m",
        "reliability",
        "-p",
        "no:xdist",
        "-p",
        "no:cacheprovider",
    ]
    code = subprocess.call([*command, "-q", *argv], cwd=ROOT, env=env)
    if code != 0:
        if before is not None:
            DOC.write_bytes(before)  # a failed run's figures are not the project's figures
        print(
            f"reliability suite failed (exit {code}); {DOC.relative_to(ROOT)} left as it was", file=sys.stderr
        )
        return code
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
