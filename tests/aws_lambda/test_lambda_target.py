"""The Lambda event names a target; the shard index reaches dualmode_run_id."""

from __future__ import annotations

from typing import Any


def test_the_lambda_event_names_a_target(task_root: Any, invoke: Any) -> None:
    task_root.write(
        {
            "pytest.ini": "[pytest]\ndualmode_targets =\n    west: region=eu-west-2\n",
            "test_t.py": """
                def test_t(dualmode_settings, dualmode_run_id):
                    assert dualmode_settings.target == "west" and dualmode_settings.aws_region == "eu-west-2"
                    assert dualmode_run_id.startswith("ci-7-s2"), dualmode_run_id
            """,
        }
    )
    result = invoke({"target": "west", "shard": {"index": 2, "count": 4}, "env": {"DUALMODE_RUN_ID": "ci-7"}})
    assert result["outcome"] == "passed", result["summary"]
    bad = invoke({"target": "east", "raise_on_failure": False})
    assert bad["outcome"] == "error" and "known: west" in bad["error"]["message"]
    malformed = invoke({"target": "two words", "raise_on_failure": False})
    assert malformed["outcome"] == "error" and "event.target" in malformed["error"]["message"]
