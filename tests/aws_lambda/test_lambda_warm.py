"""Warm invocations in one process: fresh, correct results every time, and memory that stays flat."""

from __future__ import annotations

import gc
import os
import sys
from typing import Any

import pytest

STATEFUL = {
    "conftest.py": """
        import pytest
        STARTS = []

        @pytest.fixture(scope="session")
        def started():
            STARTS.append(1)
            return len(STARTS)
    """,
    "tests/__init__.py": "",
    "tests/helpers.py": "VALUE = 1\n",
    "tests/test_state.py": """
        from tests.helpers import VALUE
        CALLS = []

        def test_module_state_is_fresh():
            CALLS.append(1)
            assert len(CALLS) == 1

        def test_conftest_state_is_fresh(started):
            assert started == 1

        def test_helper_value():
            assert VALUE == 1, f"helper-value-{VALUE}"
    """,
}


def _stable(result: dict[str, Any]) -> Any:
    return (
        result["outcome"],
        result["counts"],
        [(t["nodeid"], t["outcome"], t.get("message")) for t in result["tests"]],
    )


def test_warm_invocations_give_identical_fresh_results(
    task_root: Any, invoke: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    task_root.write(STATEFUL)
    first = invoke({})
    assert first["outcome"] == "passed" and first["counts"]["passed"] == 3, first["summary"]
    for _ in range(3):
        assert _stable(invoke({})) == _stable(first)
    assert "already registered" not in capsys.readouterr().out


def test_changed_test_code_is_imported_again(task_root: Any, invoke: Any) -> None:
    task_root.write(STATEFUL)
    assert invoke({})["outcome"] == "passed"
    task_root.write(
        {"tests/helpers.py": "VALUE = 2\n", "conftest.py": "raise ImportError('conftest-changed')\n"}
    )
    changed = invoke({"raise_on_failure": False})
    assert changed["outcome"] == "error" and "conftest-changed" in changed["error"]["message"]
    task_root.write({"conftest.py": STATEFUL["conftest.py"]})
    helper = invoke({"raise_on_failure": False})
    failed = [t for t in helper["tests"] if t["outcome"] == "failed"]
    assert [t["nodeid"] for t in failed] == ["tests/test_state.py::test_helper_value"]
    assert "helper-value-2" in failed[0]["message"]
    task_root.write({"tests/helpers.py": "VALUE = 1\n"})
    assert invoke({})["outcome"] == "passed"
    task_root.write({"tests/test_state.py": "def test_rewritten():\n    assert False, 'file-rewritten'\n"})
    rewritten = invoke({"raise_on_failure": False})
    assert [(t["nodeid"], t["outcome"]) for t in rewritten["tests"]] == [
        ("tests/test_state.py::test_rewritten", "failed")
    ]
    assert "file-rewritten" in rewritten["tests"][0]["message"]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_memory_stays_flat_over_100_warm_invocations(task_root: Any, invoke: Any) -> None:
    # As in a Lambda zip: no third-party plugin entry points (PYTEST_DISABLE_PLUGIN_AUTOLOAD), which also
    # keeps this test quick; the handler then loads its plugin with -p. Memory is counted in allocated blocks
    # (every object, no tracing overhead) and resident bytes (large buffers).
    task_root.write(
        {"test_small.py": "BIG = [bytes(1000) for _ in range(1000)]\n\ndef test_a():\n    assert BIG\n"}
    )
    event = {"env": {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}}
    for _ in range(20):  # warm up: imports, caches, the allocator's arenas
        assert invoke(event)["outcome"] == "passed"
    gc.collect()
    blocks, rss = sys.getallocatedblocks(), _rss_bytes()
    for _ in range(80):
        assert invoke(event)["outcome"] == "passed"
    gc.collect()
    grown_blocks, grown_rss = sys.getallocatedblocks() - blocks, _rss_bytes() - rss
    # Each run imports a test module of 1000 objects of 1 KB: kept modules would add 80,000 blocks, 80 MB.
    assert grown_blocks < 5000, f"{grown_blocks} more allocated blocks after 80 warm invocations"
    assert grown_rss < 8 * 1024 * 1024, f"resident memory grew by {grown_rss / 1024:.0f} KiB"
