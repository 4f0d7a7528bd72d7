"""DynamoDB tables declared as ``aws_dynamodb_table`` resources in a Terraform file (parsed by python-hcl2).

``${var.NAME}`` (a variable's ``default``) and ``${local.NAME}`` (a local whose value is known) are
resolved in every value; any other expression is refused with an error naming the resource.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pytest_dualmode.tables.model import TableError, TableSpec, projection, throughput

_EXPR = re.compile(r"\$\{([^}]*)\}")
_APPLIED = {
    "name",
    "billing_mode",
    "hash_key",
    "range_key",
    "read_capacity",
    "write_capacity",
    "attribute",
    "global_secondary_index",
    "local_secondary_index",
    "ttl",
    "stream_enabled",
    "stream_view_type",
    "tags",
    "table_class",
}
_META = {"lifecycle", "depends_on", "provider"}  # Terraform's own, not the table's
_INDEX_APPLIED = {
    "name",
    "hash_key",
    "range_key",
    "projection_type",
    "non_key_attributes",
    "read_capacity",
    "write_capacity",
}

_FIX = "write the value itself, or use a variable with a default"


def load_terraform(text: str, source: str) -> Any:
    """Parse a Terraform file into python-hcl2's dictionaries (string quotes stripped)."""
    import hcl2
    from hcl2 import SerializationOptions

    options = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
    try:
        return hcl2.loads(text, serialization_options=options)
    except Exception as exc:  # lark's parse errors have many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TableError(f"{source}: not valid HCL ({first})") from None


def _blocks(parsed: Mapping[str, Any], kind: str) -> list[Mapping[str, Any]]:
    found = parsed.get(kind) or []
    return found if isinstance(found, list) else [found]


class _Values:
    """Resolves ``${var.X}`` and ``${local.X}`` in one resource's attributes."""

    def __init__(self, parsed: Mapping[str, Any], resource: str, source: str) -> None:
        self.variables: dict[str, Any] = {}
        for block in _blocks(parsed, "variable"):
            for name, body in block.items():
                self.variables[name] = body or {}
        self.locals: dict[str, Any] = {}
        for block in _blocks(parsed, "locals"):
            self.locals.update(block)
        self.resource, self.source = resource, source

    def refuse(self, path: str, why: str, fix: str = _FIX) -> TableError:
        """The error for a value that cannot be used locally, naming the file, resource and property."""
        return TableError(f"{self.source}: resource {self.resource}, {path}: {why}; {fix}")

    def lookup(self, expr: str, path: str, depth: int = 0) -> Any:
        expr = expr.strip()
        if expr.startswith("var."):
            var = self.variables.get(expr[4:])
            if var is None:
                raise self.refuse(path, f"{expr} is not declared")
            if "default" not in var:
                raise self.refuse(path, f"{expr} has no default")
            return self.value(var["default"], path, depth + 1)
        if expr.startswith("local.") and expr[6:] in self.locals:
            return self.value(self.locals[expr[6:]], path, depth + 1)
        raise self.refuse(path, f"${{{expr}}} cannot be worked out without running Terraform")

    def value(self, node: Any, path: str, depth: int = 0) -> Any:
        """``node`` with its expressions resolved."""
        if depth > 20:
            raise self.refuse(path, "the variables refer to each other in a loop")
        if isinstance(node, list):
            return [self.value(v, f"{path}[{i}]", depth) for i, v in enumerate(node)]
        if isinstance(node, dict):
            return {k: self.value(v, f"{path}.{k}", depth) for k, v in node.items()}
        if not isinstance(node, str) or "${" not in node:
            return node
        whole = _EXPR.fullmatch(node)
        if whole:  # a value that is one expression keeps its type (a number, a list)
            return self.lookup(whole.group(1), path, depth)
        return _EXPR.sub(lambda m: str(self.lookup(m.group(1), path, depth)), node)


def tables_in_terraform(parsed: Mapping[str, Any], source: str) -> list[TableSpec]:
    """The ``aws_dynamodb_table`` resources of a parsed Terraform file."""
    specs = []
    for block in _blocks(parsed, "resource"):
        for name, body in (block.get("aws_dynamodb_table") or {}).items():
            resource = f"aws_dynamodb_table.{name}"
            values = _Values(parsed, resource, source)
            attrs = values.value(body or {}, resource)
            specs.append(_spec(attrs, values, resource, source))
    return specs


def _first(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        return value[0] if value else {}
    return value or {}


def _list(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _spec(attrs: dict[str, Any], values: _Values, resource: str, source: str) -> TableSpec:
    if not attrs.get("name") or not attrs.get("hash_key"):
        raise values.refuse("name/hash_key", "an aws_dynamodb_table needs both", "add them")
    not_applied = sorted(k for k in attrs if k not in _APPLIED | _META)
    billing = str(attrs.get("billing_mode", "PROVISIONED"))
    create: dict[str, Any] = {
        "TableName": str(attrs["name"]),
        "BillingMode": billing,
        "AttributeDefinitions": [
            {"AttributeName": str(a["name"]), "AttributeType": str(a["type"])}
            for a in _list(attrs.get("attribute"))
        ],
        "KeySchema": _keys(attrs.get("hash_key"), attrs.get("range_key")),
    }
    provisioned = billing == "PROVISIONED"
    if provisioned:
        if "read_capacity" not in attrs or "write_capacity" not in attrs:
            raise values.refuse(
                "billing_mode", "PROVISIONED (the default) needs read_capacity and write_capacity", "add them"
            )
        create["ProvisionedThroughput"] = throughput(attrs["read_capacity"], attrs["write_capacity"])
    gsis = []
    for i, raw in enumerate(_list(attrs.get("global_secondary_index"))):
        index = {
            "IndexName": str(raw["name"]),
            "KeySchema": _keys(raw.get("hash_key"), raw.get("range_key")),
            "Projection": projection(raw.get("projection_type"), raw.get("non_key_attributes")),
        }
        if provisioned:
            index["ProvisionedThroughput"] = throughput(
                raw.get("read_capacity", attrs["read_capacity"]),
                raw.get("write_capacity", attrs["write_capacity"]),
            )
        not_applied += [f"global_secondary_index[{i}].{k}" for k in raw if k not in _INDEX_APPLIED]
        gsis.append(index)
    if gsis:
        create["GlobalSecondaryIndexes"] = gsis
    lsis = []
    for i, raw in enumerate(_list(attrs.get("local_secondary_index"))):
        lsis.append(
            {
                "IndexName": str(raw["name"]),
                "KeySchema": _keys(attrs["hash_key"], raw.get("range_key")),
                "Projection": projection(raw.get("projection_type"), raw.get("non_key_attributes")),
            }
        )
        not_applied += [f"local_secondary_index[{i}].{k}" for k in raw if k not in _INDEX_APPLIED]
    if lsis:
        create["LocalSecondaryIndexes"] = lsis
    if attrs.get("stream_enabled") in (True, "true"):
        create["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": str(attrs.get("stream_view_type", "NEW_AND_OLD_IMAGES")),
        }
    if attrs.get("tags"):
        create["Tags"] = [{"Key": str(k), "Value": str(v)} for k, v in attrs["tags"].items()]
    if attrs.get("table_class"):
        create["TableClass"] = str(attrs["table_class"])
    ttl = _first(attrs.get("ttl"))
    ttl_attribute = str(ttl["attribute_name"]) if ttl.get("enabled") in (True, "true") else None
    return TableSpec(
        name=create["TableName"],
        resource=resource,
        source=source,
        create=create,
        ttl_attribute=ttl_attribute,
        not_applied=tuple(not_applied),
    )


def _keys(hash_key: Any, range_key: Any) -> list[dict[str, str]]:
    keys = [{"AttributeName": str(hash_key), "KeyType": "HASH"}]
    if range_key:
        keys.append({"AttributeName": str(range_key), "KeyType": "RANGE"})
    return keys
