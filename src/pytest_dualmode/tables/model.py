"""What a declared table is once read from a template: the CreateTable request and what it left out;
and the checks of a template's values both readers make."""

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


# DynamoDB's own values: a template with any other is refused before the local DynamoDB sees it.
KEY_TYPES = ("HASH", "RANGE")
ATTRIBUTE_TYPES = ("S", "N", "B")
PROJECTION_TYPES = ("ALL", "KEYS_ONLY", "INCLUDE")
BILLING_MODES = ("PROVISIONED", "PAY_PER_REQUEST")
STREAM_VIEW_TYPES = ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES")
TABLE_CLASSES = ("STANDARD", "STANDARD_INFREQUENT_ACCESS")


def describe(value: Any) -> str:
    """What a value is, for messages: ``a list``, ``a string ('abc')``, ``empty``."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({shown!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def whole(value: Any) -> int | None:
    """``value`` as a whole number (``3``, ``3.0`` or ``"3"``), or None when it is none."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) <= 18:
        return int(value)  # isdecimal, not isdigit: int() refuses digits such as "²"
    return None


def join(path: str, key: Any) -> str:
    """``path.key`` (``key`` alone at the top)."""
    return f"{path}.{key}" if path else str(key)


class Checks:
    """The shape checks both parsers make: each returns the value in the shape asked for, or raises a
    :class:`TableError` naming the file, the resource and the property, what is wrong and what to do.

    ``path`` arguments are where the value is in the resource (``Properties.KeySchema[0]``); the
    ``not_applied`` entries leave out ``root`` (``KeySchema[0].X``), as the warning has always shown them.
    """

    source: str
    resource: str
    root = ""
    fix = "correct it"
    mapping_word = "a mapping"

    def refuse(self, path: str, why: str, fix: str | None = None) -> TableError:
        """The error for a value that cannot be used locally, naming the file, resource and property."""
        return TableError(f"{self.source}: resource {self.resource}, {path}: {why}; {fix or self.fix}")

    def mapping(self, value: Any, path: str, fix: str | None = None) -> dict[Any, Any]:
        """``value``, which must be a mapping (a block, in Terraform)."""
        if not isinstance(value, dict):
            raise self.refuse(
                path,
                f"is {describe(value)}, not {self.mapping_word}",
                fix or f"write it as {self.mapping_word}",
            )
        return value

    def sequence(self, value: Any, path: str, fix: str | None = None) -> list[Any]:
        """``value``, which must be a list."""
        if not isinstance(value, list):
            raise self.refuse(path, f"is {describe(value)}, not a list", fix or "write it as a list")
        return value

    def required(self, mapping: dict[Any, Any], key: str, path: str, fix: str | None = None) -> Any:
        """``mapping[key]``, which must be there (an empty value counts as missing)."""
        if mapping.get(key) is None:
            raise self.refuse(path, f"has no {key}", fix or f"add {key}")
        return mapping[key]

    def text(self, value: Any, path: str) -> str:
        """A name or other string; numbers and booleans are written as text, as the deployed stack would."""
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, str | int | float):
            return str(value)
        raise self.refuse(path, f"is {describe(value)}, not a string", "write it as a string")

    def texts(self, value: Any, path: str) -> list[str]:
        """A list of strings."""
        return [self.text(v, f"{path}[{i}]") for i, v in enumerate(self.sequence(value, path))]

    def choice(self, value: Any, path: str, allowed: tuple[str, ...]) -> str:
        """One of DynamoDB's names for something (``HASH``, ``PAY_PER_REQUEST``...), spelt exactly."""
        if isinstance(value, str) and value in allowed:
            return value
        raise self.refuse(path, f"{describe(value)} is not one of {', '.join(allowed)}", "use one of them")

    def units(self, value: Any, path: str) -> int:
        """A number of capacity units: a whole number, 1 or more (templates may write it as a string)."""
        number = whole(value)
        if number is None or number < 1:
            raise self.refuse(
                path,
                f"{describe(value)} is not a number of capacity units",
                "write a whole number, 1 or more",
            )
        return number

    def flag(self, value: Any, path: str) -> bool:
        """A boolean (``true``/``false``, or those words as strings)."""
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise self.refuse(path, f"is {describe(value)}, not true or false", "write true or false")

    def unapplied(
        self, mapping: dict[Any, Any], applied: set[str], path: str, not_applied: list[str]
    ) -> None:
        """List in ``not_applied`` the keys of ``mapping`` that nothing reads, so none is dropped unsaid."""
        if self.root and (path == self.root or path.startswith(self.root + ".")):
            path = path[len(self.root) + 1 :]
        not_applied += sorted(join(path, k) for k in mapping if k not in applied)
