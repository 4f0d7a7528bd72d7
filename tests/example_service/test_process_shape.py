"""The example's system suite with the service in its own process (``python -m example_service``):
the plugin starts it on picked ports against the embedded DynamoDB, waits for its JSON ready line and
verifies SigV4 in front of it. The same tests as the in-process run, unchanged."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_example_system_suite_passes_in_process_mode() -> None:
    env = {**os.environ, "EXAMPLE_SERVICE_SHAPE": "process"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/system", "-rA"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    passed = re.search(r"(\d+) passed", run.stdout)
    assert passed and int(passed.group(1)) >= 60, run.stdout[-2000:]
    assert (
        "PASSED tests/system/test_local_table.py" in run.stdout
    )  # the service's table, seen through `dynamodb`
