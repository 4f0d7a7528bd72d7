"""Settings shared by every test of the project."""

import os
from pathlib import Path

import pytest

# schemathesis (a dev dependency, used through its Python API by the reliability suite) autoloads a
# pytest plugin that costs about a second in every pytest process, pytester's subprocesses included.
# No run here needs the plugin; the subprocesses inherit this. pytest-asyncio and anyio (dev dependencies
# for the async-service tests) are off in subprocesses too: the runs that test them turn them on with -p.
if "no:schemathesis" not in os.environ.get("PYTEST_ADDOPTS", ""):
    os.environ["PYTEST_ADDOPTS"] = (
        os.environ.get("PYTEST_ADDOPTS", "") + " -p no:schemathesis -p no:asyncio -p no:anyio"
    ).strip()


# tests/system and tests/go_service each define the session's `dualmode_service`, and one pytest session
# serves one service (the plugin's address fixtures are session-scoped). So the Go suite is left out of a
# run that does not ask for it by path, and tests/cli/test_go_example_modes.py runs it locally in a pytest
# process of its own (as the Go team's own repository would), beside its remote and Lambda runs.
_GO_SUITE = Path(__file__).resolve().parent / "go_service"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave tests/go_service out unless a command-line argument points into it."""
    if collection_path != _GO_SUITE:
        return None
    asked = (Path(str(arg).split("::", 1)[0]).resolve() for arg in config.args)
    return not any(path.is_relative_to(_GO_SUITE) for path in asked)
