"""What became of one invocation: its tests failed, its suite could not be collected, or the infrastructure
failed it (docs/invoke.md, "Fates"). Infrastructure is never the tests' fault: a throttle, a crashed or
killed runtime, Lambda's timeout or the handler's deadline, a 5xx, a connection, a misconfigured function.
"""

from __future__ import annotations

from pytest_dualmode.cli.invoke.backend import Outcome

FATES = ("passed", "tests_failed", "collection_error", "infrastructure")
# exit code of a run whose only problems were infrastructure (EX_TEMPFAIL: "try again later")
EXIT_INFRASTRUCTURE = 75
# result error types that mean the suite could not be collected or started as asked
COLLECTION_ERRORS = ("CollectionError", "UsageError", "SelectionError", "NoTests", "NoTestsCollected")
# ...and those that mean the function is misconfigured, not the tests (an InternalError of pytest or of the
# handler is deterministic, like a test failure: it is not retried and keeps pytest's exit code 3)
INFRASTRUCTURE_ERRORS = ("EventError", "ConfigError")
DEADLINE = "Handler.Deadline"  # the handler stopped before Lambda's timeout: tests left not_run
REFUSED = "EnvironmentRefused"  # an environment that ran an earlier attempt refused a re-run


def classify(outcome: Outcome | None) -> tuple[str, str | None]:
    """(fate, error type) of one invocation's outcome; the error type is None for passed and tests_failed.

    Without a result the fate is infrastructure, typed as Lambda typed it (``Runtime.ExitError``,
    ``Sandbox.Timedout``, ``Runtime.OutOfMemory``, ``TooManyRequestsException``, ``ServiceException``,
    ``ReadTimeout``, ``ConnectionError``...).
    """
    if outcome is None:
        return "infrastructure", "NotInvoked"
    result = outcome.result
    if result is None:
        if outcome.error_type is None and outcome.function_error:
            return "infrastructure", outcome.function_error
        return "infrastructure", outcome.error_type or "NoResult"
    error = result.get("error")
    kind = str(error["type"]) if isinstance(error, dict) and error.get("type") else None
    counts = result.get("counts")
    counts = counts if isinstance(counts, dict) else {}
    failed = bool(counts.get("failed") or counts.get("errors"))
    if result.get("collection_errors") or kind in COLLECTION_ERRORS or result.get("exit_code") == 5:
        return "collection_error", kind or "CollectionError"
    if kind in INFRASTRUCTURE_ERRORS:
        return "infrastructure", kind
    if failed:
        return "tests_failed", None
    if result.get("outcome") == "timeout":
        return "infrastructure", DEADLINE
    if outcome.function_error:
        return "infrastructure", outcome.error_type or outcome.function_error
    if result.get("outcome") != "passed" or result.get("exit_code") not in (0, None):
        return "tests_failed", None
    return "passed", None
