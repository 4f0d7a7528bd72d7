"""DynamoDB tables declared as ``aws_dynamodb_table`` resources in a Terraform file (parsed by python-hcl2).

``${var.NAME}`` (a variable's ``default``) and ``${local.NAME}`` (a local whose value is known) are
resolved in every value; any other expression is refused with an error naming the resource. Arguments
and nested blocks are checked as the CloudFormation reader checks properties, and those with no local
effect (a block's unknown arguments too) are listed in ``not_applied``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pytest_dualmode.tables.model import (
    ATTRIBUTE_TYPES,
    BILLING_MODES,
    PROJECTION_TYPES,
    STREAM_VIEW_TYPES,
    TABLE_CLASSES,
    Checks,
    TableError,
    TableSpec,
    describe,
    join,
    projection,
    throughput,
)

_EXPR = re.compile(r"\$\{([^}]*)\}")
_NAMED = re.compile(r"(var|local)\.([A-Za-z_][A-Za-z0-9_-]*)")  # var.NAME, local.NAME: nothing more
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
_INDEX_APPLIED = {"name", "hash_key", "range_key", "projection_type", "non_key_attributes"}
_CAPACITY = ("read_capacity", "write_capacity")
_ON_DEMAND = "(billing_mode is PAY_PER_REQUEST)"

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


def _blocks(parsed: Mapping[str, Any], kind: str, source: str) -> list[dict[str, Any]]:
    """The top-level ``kind`` blocks (``resource``, ``variable``, ``locals``) of a parsed file."""
    found = parsed.get(kind)
    if found is None:
        return []
    blocks = found if isinstance(found, list) else [found]
    for block in blocks:
        if not isinstance(block, dict):
            raise TableError(
                f"{source}: {kind} is {describe(block)}, not a block; write it as {kind} ... {{ }}"
            )
    return blocks


def _declared(kind: str, names: Mapping[str, Any]) -> str:
    """The declared variables or locals, so that a misspelt name is plain to see."""
    return f"the declared {kind}: {', '.join(names)}" if names else f"the file declares no {kind}"


def _given(attrs: Mapping[str, Any], key: str) -> bool:
    """Whether an optional argument is set: Terraform's ``""`` and ``null`` are the same as leaving it out."""
    return attrs.get(key) not in (None, "")


class _Values(Checks):
    """Resolves ``${var.X}`` and ``${local.X}`` in one resource's attributes."""

    fix = _FIX
    mapping_word = "a block"

    def __init__(self, parsed: Mapping[str, Any], resource: str, source: str) -> None:
        self.variables: dict[str, dict[str, Any]] = {}
        for block in _blocks(parsed, "variable", source):
            for name, body in block.items():
                if body is not None and not isinstance(body, dict):
                    raise TableError(
                        f'{source}: variable "{name}" is not a block; write variable "{name}" {{ }}'
                    )
                self.variables[name] = body or {}
        self.locals: dict[str, Any] = {}
        for block in _blocks(parsed, "locals", source):
            self.locals.update(block)
        self.resource, self.source = resource, source

    def lookup(self, expr: str, path: str, depth: int = 0) -> Any:
        named = _NAMED.fullmatch(expr.strip())
        if named and named.group(1) == "var":
            var = self.variables.get(named.group(2))
            if var is None:
                raise self.refuse(
                    path, f"{named.group(0)} is not declared ({_declared('variables', self.variables)})"
                )
            if "default" not in var:
                raise self.refuse(path, f"{named.group(0)} has no default")
            return self.value(var["default"], path, depth + 1)
        if named:
            if named.group(2) not in self.locals:
                raise self.refuse(
                    path, f"{named.group(0)} is not declared ({_declared('locals', self.locals)})"
                )
            return self.value(self.locals[named.group(2)], path, depth + 1)
        raise self.refuse(path, f"${{{expr.strip()}}} cannot be worked out without running Terraform")

    def value(self, node: Any, path: str, depth: int = 0) -> Any:
        """``node`` with its expressions resolved."""
        if depth > 20:
            raise self.refuse(path, "the variables refer to each other in a loop")
        if isinstance(node, list):
            return [self.value(v, f"{path}[{i}]", depth) for i, v in enumerate(node)]
        if isinstance(node, dict):
            return {k: self.value(v, join(path, k), depth) for k, v in node.items()}
        if not isinstance(node, str) or "${" not in node:
            return node
        whole = _EXPR.fullmatch(node)
        if whole:  # a value that is one expression keeps its type (a number, a list)
            return self.lookup(whole.group(1), path, depth)
        return _EXPR.sub(lambda m: self.text(self.lookup(m.group(1), path, depth), path), node)

    def blocks(self, value: Any, path: str) -> list[dict[str, Any]]:
        """The nested blocks of one kind (``attribute``, ``ttl``...): python-hcl2 gives a list of them."""
        if value is None:
            return []
        found = value if isinstance(value, list) else [value]
        return [
            self.mapping(b, f"{path}[{i}]", f"write it as a block: {path} {{ ... }}")
            for i, b in enumerate(found)
        ]


def tables_in_terraform(parsed: Mapping[str, Any], source: str) -> list[TableSpec]:
    """The ``aws_dynamodb_table`` resources of a parsed Terraform file."""
    specs = []
    for block in _blocks(parsed, "resource", source):
        tables = block.get("aws_dynamodb_table")
        if tables is None:
            continue
        if not isinstance(tables, dict):
            raise TableError(
                f'{source}: write resource "aws_dynamodb_table" "NAME" {{ ... }}: a type and a name'
            )
        for name, body in tables.items():
            resource = f"aws_dynamodb_table.{name}"
            values = _Values(parsed, resource, source)
            # A resource with one label instead of two reads as a resource per argument: name = "x" is one.
            attrs = values.mapping(
                values.value(body or {}, ""),
                "the resource",
                'write resource "aws_dynamodb_table" "NAME" { ... }: a type and a name',
            )
            specs.append(_spec(attrs, values, resource, source))
    return specs


def _spec(attrs: dict[str, Any], v: _Values, resource: str, source: str) -> TableSpec:
    if not attrs.get("name") or not attrs.get("hash_key"):
        raise v.refuse("name/hash_key", "an aws_dynamodb_table needs both", "add them")
    not_applied = sorted(str(k) for k in attrs if k not in _APPLIED | _META)
    billing = (
        v.choice(attrs["billing_mode"], "billing_mode", BILLING_MODES)
        if _given(attrs, "billing_mode")
        else "PROVISIONED"
    )
    hash_key = v.text(attrs["hash_key"], "hash_key")
    create: dict[str, Any] = {"TableName": v.text(attrs["name"], "name"), "BillingMode": billing}
    provisioned = billing == "PROVISIONED"
    capacity: dict[str, int] = {}
    if provisioned:
        if not _given(attrs, "read_capacity") or not _given(attrs, "write_capacity"):
            raise v.refuse(
                "billing_mode", "PROVISIONED (the default) needs read_capacity and write_capacity", "add them"
            )
        capacity = {k: v.units(attrs[k], k) for k in _CAPACITY}
        create["ProvisionedThroughput"] = throughput(capacity["read_capacity"], capacity["write_capacity"])
    else:
        not_applied += [f"{k} {_ON_DEMAND}" for k in _CAPACITY if _given(attrs, k)]
    create["AttributeDefinitions"] = [
        _attribute(raw, f"attribute[{i}]", v, not_applied)
        for i, raw in enumerate(v.blocks(attrs.get("attribute"), "attribute"))
    ]
    create["KeySchema"] = _keys(hash_key, attrs.get("range_key"), "", v)
    gsis = []
    for i, raw in enumerate(v.blocks(attrs.get("global_secondary_index"), "global_secondary_index")):
        path = f"global_secondary_index[{i}]"
        index = _index(raw, path, v)
        index["KeySchema"] = _keys(v.required(raw, "hash_key", path), raw.get("range_key"), path, v)
        if provisioned:  # an index without its own capacity has the table's
            own = {k: v.units(raw[k], f"{path}.{k}") for k in _CAPACITY if _given(raw, k)}
            merged = capacity | own
            index["ProvisionedThroughput"] = throughput(merged["read_capacity"], merged["write_capacity"])
        else:
            not_applied += [f"{path}.{k} {_ON_DEMAND}" for k in _CAPACITY if _given(raw, k)]
        v.unapplied(raw, _INDEX_APPLIED | set(_CAPACITY), path, not_applied)
        gsis.append(index)
    if gsis:
        create["GlobalSecondaryIndexes"] = gsis
    lsis = []
    for i, raw in enumerate(v.blocks(attrs.get("local_secondary_index"), "local_secondary_index")):
        path = f"local_secondary_index[{i}]"
        index = _index(raw, path, v)
        index["KeySchema"] = _keys(hash_key, v.required(raw, "range_key", path), path, v)
        # An LSI has the table's hash_key and no capacity of its own: those are listed if given.
        v.unapplied(raw, _INDEX_APPLIED - {"hash_key"}, path, not_applied)
        lsis.append(index)
    if lsis:
        create["LocalSecondaryIndexes"] = lsis
    stream = v.flag(attrs["stream_enabled"], "stream_enabled") if _given(attrs, "stream_enabled") else False
    view = (
        v.choice(attrs["stream_view_type"], "stream_view_type", STREAM_VIEW_TYPES)
        if _given(attrs, "stream_view_type")
        else None
    )
    if stream:
        create["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": view or "NEW_AND_OLD_IMAGES",
        }
    elif view:
        not_applied.append("stream_view_type (stream_enabled is not true)")
    if attrs.get("tags") is not None:
        if not isinstance(attrs["tags"], dict):
            raise v.refuse(
                "tags", f"is {describe(attrs['tags'])}, not a map", 'write tags = { KEY = "VALUE" }'
            )
        tags = attrs["tags"].items()
        if tags:
            create["Tags"] = [{"Key": str(key), "Value": v.text(value, f"tags.{key}")} for key, value in tags]
    if _given(attrs, "table_class"):
        create["TableClass"] = v.choice(attrs["table_class"], "table_class", TABLE_CLASSES)
    return TableSpec(
        name=create["TableName"],
        resource=resource,
        source=source,
        create=create,
        ttl_attribute=_ttl(attrs.get("ttl"), v, not_applied),
        not_applied=tuple(dict.fromkeys(not_applied)),
    )


def _attribute(raw: dict[str, Any], path: str, v: _Values, not_applied: list[str]) -> dict[str, str]:
    v.unapplied(raw, {"name", "type"}, path, not_applied)
    return {
        "AttributeName": v.text(v.required(raw, "name", path), f"{path}.name"),
        "AttributeType": v.choice(
            v.required(raw, "type", path, 'add type = "S", "N" or "B"'), f"{path}.type", ATTRIBUTE_TYPES
        ),
    }


def _index(raw: dict[str, Any], path: str, v: _Values) -> dict[str, Any]:
    """What a GSI and an LSI block share: the name and the projection (the caller adds the keys)."""
    kind = (
        v.choice(raw["projection_type"], f"{path}.projection_type", PROJECTION_TYPES)
        if _given(raw, "projection_type")
        else None
    )
    non_key = (
        v.texts(raw["non_key_attributes"], f"{path}.non_key_attributes")
        if raw.get("non_key_attributes") is not None
        else None
    )
    return {
        "IndexName": v.text(v.required(raw, "name", path), f"{path}.name"),
        "Projection": projection(kind, non_key),
    }


def _ttl(value: Any, v: _Values, not_applied: list[str]) -> str | None:
    """The TTL attribute of the ``ttl`` block, when it is enabled."""
    blocks = v.blocks(value, "ttl")
    if not blocks:
        return None
    if len(blocks) > 1:
        raise v.refuse("ttl", f"has {len(blocks)} blocks; a table has one", "keep one ttl block")
    ttl = blocks[0]
    v.unapplied(ttl, {"attribute_name", "enabled"}, "ttl", not_applied)
    if not _given(ttl, "enabled") or not v.flag(ttl["enabled"], "ttl.enabled"):
        return None
    return v.text(v.required(ttl, "attribute_name", "ttl"), "ttl.attribute_name")


def _keys(hash_key: Any, range_key: Any, path: str, v: _Values) -> list[dict[str, str]]:
    keys = [{"AttributeName": v.text(hash_key, join(path, "hash_key")), "KeyType": "HASH"}]
    if range_key not in (None, ""):
        keys.append({"AttributeName": v.text(range_key, join(path, "range_key")), "KeyType": "RANGE"})
    return keys
