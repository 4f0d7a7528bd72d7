"""The suppression list in DynamoDB, through a boto3 DynamoDB client the caller passes in.

One item per suppression: partition key ``account_id``, sort key ``email`` (so an account's list is
one partition, read in email order). Writes are conditional (idempotent Add, NOT_FOUND on Delete of
a missing item) and every read is strongly consistent, so a client reads its own writes.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from example_service.errors import Internal, NotFound, TableNotReadyError, Unavailable
from example_service.validation import encode_page_token

log = logging.getLogger(__name__)

KEY_SCHEMA = [
    {"AttributeName": "account_id", "KeyType": "HASH"},
    {"AttributeName": "email", "KeyType": "RANGE"},
]
_NAMES = {"#a": "account_id", "#e": "email"}
# DynamoDB errors that mean "busy or briefly down": the caller may retry (UNAVAILABLE / 503).
_RETRYABLE = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
}
_DEAD_STATUSES = {"DELETING", "ARCHIVING", "ARCHIVED", "INACCESSIBLE_ENCRYPTION_CREDENTIALS"}
_EXPORT_PAGE = 100


@dataclass(frozen=True)
class Suppression:
    """One suppressed address of an account."""

    account_id: str
    email: str
    reason: str
    created_at: datetime

    def to_json(self) -> dict[str, str]:
        """The HTTP API's JSON form (``created_at`` in RFC 3339, UTC, milliseconds)."""
        stamp = self.created_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {
            "account_id": self.account_id,
            "email": self.email,
            "reason": self.reason,
            "created_at": stamp,
        }

    def to_item(self) -> dict[str, Any]:
        """The DynamoDB item."""
        millis = int(self.created_at.timestamp() * 1000)
        return {
            "account_id": {"S": self.account_id},
            "email": {"S": self.email},
            "reason": {"S": self.reason},
            "created_at_ms": {"N": str(millis)},
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Suppression:
        """Read a DynamoDB item written by :meth:`to_item`."""
        return cls(
            account_id=item["account_id"]["S"],
            email=item["email"]["S"],
            reason=item.get("reason", {}).get("S", ""),
            created_at=datetime.fromtimestamp(int(item["created_at_ms"]["N"]) / 1000, UTC),
        )


def _now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@contextlib.contextmanager
def dynamodb_errors(operation: str) -> Iterator[None]:
    """Turn DynamoDB failures into :class:`ServiceError`: retryable ones UNAVAILABLE, others INTERNAL."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _RETRYABLE:
            raise Unavailable(f"the database is busy ({code}); retry the {operation} later") from exc
        log.error("DynamoDB %s failed: %s", operation, code or exc)
        raise Internal(f"{operation} failed (the service log has the details)") from exc
    except BotoCoreError as exc:
        # Connection refused/reset, timeouts: the database is down or unreachable for now.
        log.error("DynamoDB %s failed: %s", operation, type(exc).__name__)
        raise Unavailable(f"the database is unreachable; retry the {operation} later") from exc


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class SuppressionStore:
    """Suppressions in the DynamoDB table ``table``, through ``client`` (a boto3 DynamoDB client).

    The store does not validate its arguments: :class:`example_service.SuppressionService` does.
    """

    def __init__(self, client: Any, table: str, *, clock: Callable[[], datetime] = _now) -> None:
        self.client = client
        self.table = table
        self._clock = clock

    # -- the table --------------------------------------------------------------------------------

    def ensure_table(
        self,
        timeout: float = 60.0,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create the table when it is missing and wait (at most ``timeout`` seconds) until it is ACTIVE.

        Works with servers that keep a new table in CREATING for a while (real DynamoDB does), and
        with several processes creating the same table at once. Raises :class:`TableNotReadyError`.
        """
        deadline = monotonic() + timeout
        status = self._describe_status()
        if status is None:
            try:
                self.client.create_table(
                    TableName=self.table,
                    KeySchema=KEY_SCHEMA,
                    AttributeDefinitions=[
                        {"AttributeName": "account_id", "AttributeType": "S"},
                        {"AttributeName": "email", "AttributeType": "S"},
                    ],
                    BillingMode="PAY_PER_REQUEST",
                )
                log.info("created DynamoDB table %s", self.table)
            except Exception as exc:
                if _error_code(exc) != "ResourceInUseException":  # another process created it first
                    raise
            status = "CREATING"
        delay = 0.05
        while status != "ACTIVE":
            if status in _DEAD_STATUSES:
                raise TableNotReadyError(
                    f"DynamoDB table {self.table!r} is {status}; wait until it is gone or pick another "
                    "table name"
                )
            left = deadline - monotonic()
            if left <= 0:
                raise TableNotReadyError(
                    f"DynamoDB table {self.table!r} is still {status} after {timeout:g}s; check the "
                    "DynamoDB endpoint, or allow more time"
                )
            sleep(min(delay, left))
            delay = min(delay * 2, 1.0)
            status = self._describe_status() or "CREATING"
        self._check_key_schema()

    def _describe_status(self) -> str | None:
        try:
            table = self.client.describe_table(TableName=self.table)["Table"]
        except Exception as exc:
            if _error_code(exc) == "ResourceNotFoundException":
                return None
            raise
        return str(table.get("TableStatus", "CREATING"))

    def _check_key_schema(self) -> None:
        keys = self.client.describe_table(TableName=self.table)["Table"].get("KeySchema", [])
        if sorted((k["AttributeName"], k["KeyType"]) for k in keys) != sorted(
            (k["AttributeName"], k["KeyType"]) for k in KEY_SCHEMA
        ):
            raise TableNotReadyError(
                f"DynamoDB table {self.table!r} exists with key schema {keys}, not account_id (HASH) + "
                "email (RANGE); pick another table name"
            )

    # -- the operations ---------------------------------------------------------------------------

    def add(self, account_id: str, email: str, reason: str) -> tuple[Suppression, bool]:
        """Store a suppression unless one exists; return the stored record and whether it is new."""
        record = Suppression(account_id, email, reason, self._clock())
        # A delete can slip in between the failed conditional put and the read; try again then.
        for _ in range(3):
            with dynamodb_errors("Add"):
                try:
                    self.client.put_item(
                        TableName=self.table,
                        Item=record.to_item(),
                        ConditionExpression="attribute_not_exists(#e)",
                        ExpressionAttributeNames={"#e": "email"},
                        ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    )
                    return record, True
                except Exception as exc:
                    if _error_code(exc) != "ConditionalCheckFailedException":
                        raise
                    old = getattr(exc, "response", {}).get("Item")
                existing = Suppression.from_item(old) if old else self._get(account_id, email)
            if existing is not None:
                return existing, False
        raise Unavailable("the suppression changed concurrently while adding it; retry the Add")

    def _get(self, account_id: str, email: str) -> Suppression | None:
        response = self.client.get_item(
            TableName=self.table,
            Key={"account_id": {"S": account_id}, "email": {"S": email}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return Suppression.from_item(item) if item else None

    def get(self, account_id: str, email: str) -> Suppression:
        """The suppression of ``email``; :class:`NotFound` when there is none."""
        with dynamodb_errors("Get"):
            record = self._get(account_id, email)
        if record is None:
            raise NotFound(f"{email} is not on the suppression list of account {account_id}")
        return record

    def delete(self, account_id: str, email: str) -> None:
        """Remove the suppression of ``email``; :class:`NotFound` when there is none."""
        with dynamodb_errors("Delete"):
            try:
                self.client.delete_item(
                    TableName=self.table,
                    Key={"account_id": {"S": account_id}, "email": {"S": email}},
                    ConditionExpression="attribute_exists(#e)",
                    ExpressionAttributeNames={"#e": "email"},
                )
                return
            except Exception as exc:
                if _error_code(exc) != "ConditionalCheckFailedException":
                    raise
        raise NotFound(f"{email} is not on the suppression list of account {account_id}")

    def _query(self, account_id: str, limit: int, after: str | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#a = :a",
            "ExpressionAttributeNames": {"#a": "account_id"},
            "ExpressionAttributeValues": {":a": {"S": account_id}},
            "ConsistentRead": True,
            "Limit": limit,
        }
        if after is not None:
            kwargs["ExclusiveStartKey"] = {"account_id": {"S": account_id}, "email": {"S": after}}
        return dict(self.client.query(**kwargs))

    def list_page(self, account_id: str, page_size: int, after: str | None) -> tuple[list[Suppression], str]:
        """One page of the account's suppressions after the email ``after``, and the next page's token.

        One item more than the page is read, so the last page has an empty token rather than being
        followed by an empty page.
        """
        with dynamodb_errors("List"):
            response = self._query(account_id, page_size + 1, after)
        records = [Suppression.from_item(item) for item in response.get("Items", [])]
        if len(records) > page_size:
            records = records[:page_size]
            return records, encode_page_token(account_id, records[-1].email)
        last_key = response.get("LastEvaluatedKey")
        if last_key and records:  # the 1 MB response limit cut the page short
            return records, encode_page_token(account_id, records[-1].email)
        return records, ""

    def export(self, account_id: str) -> Iterator[Suppression]:
        """Every suppression of the account, in email order.

        The first page is read now, so a failing database is reported before the caller starts a
        response; later pages are read as the iterator is consumed.
        """
        with dynamodb_errors("Export"):
            first = self._query(account_id, _EXPORT_PAGE, None)
        return self._export_rest(account_id, first)

    def _export_rest(self, account_id: str, response: dict[str, Any]) -> Iterator[Suppression]:
        while True:
            for item in response.get("Items", []):
                yield Suppression.from_item(item)
            last_key = response.get("LastEvaluatedKey")
            if not last_key:
                return
            with dynamodb_errors("Export"):
                response = self._query(account_id, _EXPORT_PAGE, last_key["email"]["S"])
