"""The Lambda entrypoint: ``pytest_dualmode.aws_lambda.handler`` runs the packaged suite in-process.

Set the function's handler to ``pytest_dualmode.aws_lambda.handler``. The event, the environment variables
and the result are described in docs/lambda.md and docs/result-schema.md. This module stays light (Lambda
imports it during init): the runner's modules load on the first invocation.
"""

from __future__ import annotations

from typing import Any

from pytest_dualmode.aws_lambda.result import SuiteFailed  # stdlib-only module: cheap at init

__all__ = ["SuiteFailed", "handler"]


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """Run the tests in the task root for one Lambda event; return the result (``pytest-dualmode.result/1``).

    ``event`` may set ``args``, ``select``, ``suites``, ``collect_only``, ``shard``, ``raise_on_failure``,
    ``env`` and ``deadline_margin_ms`` (docs/lambda.md); a malformed event returns an ``error`` result naming
    the field. ``context`` is Lambda's context object: its ``get_remaining_time_in_millis()`` sets the
    deadline (None: no deadline). A run whose outcome is not ``passed`` raises :class:`SuiteFailed` (a Lambda
    function error with a compact JSON summary) unless the event says ``"raise_on_failure": false``.
    """
    from pytest_dualmode.aws_lambda.runner import handle

    return handle(event, context)
