"""What a declared table is once read from a template: the CreateTable request and what it left out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class TableError(ValueError):
    """A template that cannot be turned into tables; the message names the file, the resource and the fix."""


@dataclass(frozen=True)
class TableSpec:
    """One declared table.

    ``create`` is the ``CreateTable`` request (boto3 client keyword arguments); ``ttl_attribute`` is the
    TTL attribute to switch on after creation; ``not_applied`` lists the properties that exist in the
    template but have no local effect (reported once per run, never dropped silently).
    """

    name: str
    resource: str  # the logical id (CloudFormation) or TYPE.NAME (Terraform)
    source: str  # the file it was declared in
    create: dict[str, Any]
    ttl_attribute: str | None = None
    not_applied: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def where(self) -> str:
        """``resource Orders in deploy/tables.yaml``: for messages."""
        return f"resource {self.resource} in {self.source}"


def projection(kind: Any, non_key: Any = None) -> dict[str, Any]:
    """A DynamoDB ``Projection`` (``ALL`` when the template gives none)."""
    out: dict[str, Any] = {"ProjectionType": str(kind or "ALL")}
    if non_key:
        out["NonKeyAttributes"] = [str(a) for a in non_key]
    return out


def throughput(read: Any, write: Any) -> dict[str, int]:
    """A ``ProvisionedThroughput`` from two numbers (templates may write them as strings)."""
    return {"ReadCapacityUnits": int(read), "WriteCapacityUnits": int(write)}
