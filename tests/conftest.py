"""Settings shared by every test of the project."""

import os

# schemathesis (a dev dependency, used through its Python API by the reliability suite) autoloads a
# pytest plugin that costs about a second in every pytest process, pytester's subprocesses included.
# No run here needs the plugin; the subprocesses inherit this. pytest-asyncio and anyio (dev dependencies
# for the async-service tests) are off in subprocesses too: the runs that test them turn them on with -p.
if "no:schemathesis" not in os.environ.get("PYTEST_ADDOPTS", ""):
    os.environ["PYTEST_ADDOPTS"] = (
        os.environ.get("PYTEST_ADDOPTS", "") + " -p no:schemathesis -p no:asyncio -p no:anyio"
    ).strip()
