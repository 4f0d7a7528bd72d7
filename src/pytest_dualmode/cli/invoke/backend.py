"""Where ``dualmode invoke`` runs the suite: the deployed Lambda function (boto3), or emulated runtimes.

A backend turns one event into one :class:`Outcome` and never raises for a failed run: a function error,
a crashed runtime or a timeout are outcomes, so the fan-out can decide what to re-run. The only exception
is :class:`Throttled` (the invocation never ran, so the caller may safely retry it).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass
from typing import Any, Protocol

from pytest_dualmode.cli import CliError
from pytest_dualmode.cli.invoke.cost import Report, parse_report
from pytest_dualmode.redaction import redact_local as redact

RESULT_SCHEMA = "pytest-dualmode.result/1"
# the read timeout waits this much longer than the function may run, so Lambda reports its own timeout
READ_TIMEOUT_MARGIN_S = 30.0
CONNECT_TIMEOUT_S = 10.0
_MAX_ERROR_CHARS = 2000


class Throttled(Exception):
    """The invocation was refused before it ran (Lambda's 429 ``TooManyRequestsException``): safe to retry."""


@dataclass
class Outcome:
    """What one invocation gave back.

    ``result`` is the run result (docs/result-schema.md) when the response held one, else None. A function
    error (``function_error``, e.g. Lambda's ``Unhandled``) is a failure even with a result. ``error`` says
    in one line why there is no usable result; ``rerun_ok`` says whether running the same shard again is
    safe and useful (a crash: yes; a client read timeout, where the run may still be going: no); ``fatal``
    marks a configuration error that will fail every invocation the same way (function not found, denied).
    ``error_type`` names the failure as Lambda does (``Runtime.ExitError``, ``Sandbox.Timedout``,
    ``TooManyRequestsException``, ``ServiceException``...; ``ReadTimeout`` and ``ConnectionError`` for
    the client's own); ``report`` holds the figures of the log tail's ``REPORT`` line.
    """

    result: dict[str, Any] | None
    function_error: str | None = None
    error: str | None = None
    log_tail: str = ""
    duration_s: float = 0.0
    rerun_ok: bool = False
    fatal: bool = False
    request_id: str | None = None
    error_type: str | None = None
    report: Report | None = None


class Backend(Protocol):
    """Runs one event synchronously, from any thread."""

    @property
    def description(self) -> str:
        """What runs the suite, for messages: ``system-tests:live in eu-west-1``."""
        ...

    @property
    def function_timeout_s(self) -> float | None:
        """The per-invocation time limit in seconds, when known."""
        ...

    def invoke(self, event: dict[str, Any]) -> Outcome:
        """Run ``event`` and return its outcome; raise :class:`Throttled` only when it did not run."""
        ...

    def close(self) -> None:
        """Release what the backend holds (an extracted package, connections)."""
        ...


def parse_payload(payload: bytes, function_error: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """Split a response payload into (result, error line); a result when it is a pytest-dualmode run result.

    A function error's payload is ``{"errorType", "errorMessage"}``; it becomes the error line.
    """
    try:
        data = json.loads(payload.decode("utf-8", errors="replace")) if payload else None
    except ValueError:
        data = None
    if isinstance(data, dict) and str(data.get("schema", "")).startswith(RESULT_SCHEMA):
        return data, None
    if isinstance(data, dict) and ("errorType" in data or "errorMessage" in data):
        line = f"{data.get('errorType', 'Error')}: {data.get('errorMessage', '')}"
    elif data is None and not payload:
        line = "empty response"
    else:
        line = "response is not a pytest-dualmode result: " + payload[:300].decode("utf-8", errors="replace")
    if function_error:
        line = f"function error ({function_error}): {line}"
    return None, redact(line)[:_MAX_ERROR_CHARS]


def error_type_of(payload: bytes) -> str | None:
    """The ``errorType`` of a function error's payload (``Runtime.ExitError``...), else None."""
    try:
        data = json.loads(payload.decode("utf-8", errors="replace")) if payload else None
    except ValueError:
        return None
    kind = data.get("errorType") if isinstance(data, dict) else None
    return str(kind) if kind else None


def decode_log_tail(encoded: str | None) -> str:
    """Decode Lambda's base64 ``LogResult`` (the last 4 KB of the log) and redact secrets in it."""
    if not encoded:
        return ""
    try:
        raw = base64.b64decode(encoded, validate=False)
    except (binascii.Error, ValueError):
        return "(log tail was not valid base64)"
    return redact(raw.decode("utf-8", errors="replace"))


class AwsBackend:
    """The deployed function, through boto3's Lambda client (imported only when this backend is built).

    Every ``Invoke`` is synchronous (``RequestResponse``) with ``LogType=Tail``; the client never retries
    an invoke on its own (botocore's retries would run a suite twice after a read timeout), only throttles
    are retried, by the fan-out, because a throttled invocation never started.
    """

    def __init__(
        self,
        function_name: str,
        *,
        qualifier: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        timeout_s: float | None = None,
        max_concurrency: int = 10,
        read_timeout_margin_s: float | None = None,
        client: Any = None,
    ) -> None:
        """Build the clients; read the function's timeout unless ``timeout_s`` is given.

        ``client`` replaces the invoke client (a stubbed one in tests); configuration errors (no region,
        no credentials, function not found) raise :class:`CliError` naming the fix.
        """
        import boto3
        import botocore.config
        import botocore.exceptions

        self._exc = botocore.exceptions
        self.function_name = function_name
        self.qualifier = qualifier
        session = boto3.session.Session(region_name=region)
        if not session.region_name:
            raise CliError("no AWS region: pass --region (e.g. --region eu-west-1) or set AWS_REGION")
        self.region = session.region_name
        target = function_name + (f":{qualifier}" if qualifier else "")
        self.description = f"{target} in {self.region}"
        self.architecture: str | None = None  # read with the configuration (for the price estimate)
        if timeout_s is None:  # GetFunctionConfiguration: botocore's normal retries are harmless here
            control_config = botocore.config.Config(connect_timeout=CONNECT_TIMEOUT_S)
            control = session.client("lambda", endpoint_url=endpoint_url, config=control_config)
            timeout_s = self._read_timeout_of(control)
        self.function_timeout_s: float = timeout_s
        margin = READ_TIMEOUT_MARGIN_S if read_timeout_margin_s is None else read_timeout_margin_s
        self.read_timeout_s = self.function_timeout_s + margin
        self._client = client or session.client(
            "lambda",
            endpoint_url=endpoint_url,
            config=botocore.config.Config(
                read_timeout=self.read_timeout_s,
                connect_timeout=CONNECT_TIMEOUT_S,
                retries={"total_max_attempts": 1, "mode": "standard"},  # one attempt: never re-invoke
                max_pool_connections=max(10, max_concurrency),
            ),
        )

    def _read_timeout_of(self, control: Any) -> float:
        kwargs = {"FunctionName": self.function_name}
        if self.qualifier:
            kwargs["Qualifier"] = self.qualifier
        try:
            config = control.get_function_configuration(**kwargs)
        except self._exc.NoCredentialsError:
            raise CliError(
                "no AWS credentials found (environment, profile, SSO or instance role); "
                "configure them, e.g. AWS_PROFILE=ci"
            ) from None
        except self._exc.ClientError as exc:
            raise CliError(
                f"cannot read the configuration of {self.description}: {_client_error_text(exc)}; "
                "check --function-name, --qualifier and --region, or pass --timeout to skip this lookup"
            ) from None
        except self._exc.BotoCoreError as exc:
            raise CliError(f"cannot reach Lambda for {self.description}: {exc}") from None
        architectures = config.get("Architectures") or []
        self.architecture = str(architectures[0]) if architectures else "x86_64"
        return float(config.get("Timeout") or 900)

    def invoke(self, event: dict[str, Any]) -> Outcome:
        """Invoke the function once with ``event``; see :class:`Outcome` for how each failure is reported."""
        kwargs: dict[str, Any] = {
            "FunctionName": self.function_name,
            "InvocationType": "RequestResponse",
            "LogType": "Tail",
            "Payload": json.dumps(event).encode("utf-8"),
        }
        if self.qualifier:
            kwargs["Qualifier"] = self.qualifier
        start = time.monotonic()
        try:
            response = self._client.invoke(**kwargs)
            payload = response["Payload"].read()
        except self._exc.ClientError as exc:
            return self._client_error(exc, time.monotonic() - start)
        except self._exc.ReadTimeoutError:
            return Outcome(
                None,
                error=f"no response within {self.read_timeout_s:.0f}s (read timeout); the invocation may "
                "still be running, so it is not re-run",
                duration_s=time.monotonic() - start,
                error_type="ReadTimeout",
            )
        except (self._exc.EndpointConnectionError, self._exc.ConnectTimeoutError) as exc:
            # the request never reached Lambda: running it again cannot run the suite twice
            duration = time.monotonic() - start
            return Outcome(
                None,
                error=f"cannot connect: {exc}",
                duration_s=duration,
                rerun_ok=True,
                error_type="ConnectionError",
            )
        except self._exc.NoCredentialsError:
            return Outcome(None, error="no AWS credentials found", fatal=True, error_type="NoCredentials")
        except self._exc.BotoCoreError as exc:
            return Outcome(
                None,
                error=f"{type(exc).__name__}: {exc}",
                duration_s=time.monotonic() - start,
                error_type=type(exc).__name__,
            )
        duration = time.monotonic() - start
        function_error = response.get("FunctionError")
        result, error = parse_payload(payload, function_error)
        log_tail = decode_log_tail(response.get("LogResult"))
        return Outcome(
            result,
            function_error=function_error,
            error=error,
            log_tail=log_tail,
            duration_s=duration,
            rerun_ok=result is None,  # a function error without a result: the runtime crashed or timed out
            request_id=response.get("ResponseMetadata", {}).get("RequestId"),
            error_type=error_type_of(payload) if function_error else None,
            report=parse_report(log_tail),
        )

    def close(self) -> None:
        """Nothing to release: boto3's connection pool goes with the process."""

    def _client_error(self, exc: Any, duration: float) -> Outcome:
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code == "TooManyRequestsException" or status == 429:
            raise Throttled(_client_error_text(exc))
        text = _client_error_text(exc)
        kind = code or f"HTTP{status}"
        if status >= 500:  # Lambda's own failure (ServiceException, EC2 errors): one re-run is reasonable
            return Outcome(None, error=text, duration_s=duration, rerun_ok=True, error_type=kind)
        return Outcome(
            None, error=text, duration_s=duration, fatal=status in (401, 403, 404), error_type=kind
        )


def _client_error_text(exc: Any) -> str:
    error = exc.response.get("Error", {})
    return redact(f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip())
