"""DynamoDB tables declared in a CloudFormation or SAM template (YAML or JSON).

Reads ``AWS::DynamoDB::Table``, ``AWS::DynamoDB::GlobalTable`` and ``AWS::Serverless::SimpleTable``.
YAML templates are read with PyYAML and constructors for CloudFormation's short tags (``!Ref``,
``!Sub``, ``!GetAtt``...). Intrinsic functions that can be worked out offline are resolved (``Ref`` to
a parameter's ``Default`` or to ``AWS::Region``/``AWS::AccountId``/``AWS::Partition``/``AWS::URLSuffix``,
``Fn::Sub``, ``Fn::Join``, ``Fn::Select``); anything else is refused with an error naming the resource.
Each property's shape and value is checked (:class:`~pytest_dualmode.tables.model.Checks`), so a
malformed template is an error naming the property, never a Python exception; properties, top-level or
nested, that have no local effect are listed in ``not_applied``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pytest_dualmode.tables.model import (
    ATTRIBUTE_TYPES,
    BILLING_MODES,
    KEY_TYPES,
    PROJECTION_TYPES,
    STREAM_VIEW_TYPES,
    TABLE_CLASSES,
    Checks,
    TableError,
    TableSpec,
    describe,
    projection,
    throughput,
    whole,
)

TABLE_TYPES = ("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable", "AWS::Serverless::SimpleTable")
LOCAL_ACCOUNT = "123456789012"  # moto's account: what AWS::AccountId means against the local DynamoDB
_NO_VALUE = object()  # AWS::NoValue: the property is left out
_SUB_VAR = re.compile(r"\$\{([^}]*)\}")

_FIX = "write the value itself, or use !Ref/!Sub with a parameter that has a Default"


def _cfn_loader() -> type[Any]:
    """A PyYAML SafeLoader reading ``!Name value`` as CloudFormation's long form ``{"Fn::Name": value}``."""
    import yaml

    class CfnLoader(yaml.SafeLoader):
        """SafeLoader plus CloudFormation's short intrinsic tags."""

    def short_tag(loader: Any, suffix: str, node: Any) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if suffix == "Ref":
            return {"Ref": value}
        if suffix == "Condition":
            return {"Condition": value}
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {f"Fn::{suffix}": value}

    CfnLoader.add_multi_constructor("!", short_tag)
    return CfnLoader


def load_template(text: str, source: str) -> Any:
    """Parse a template's text: JSON when it looks like JSON, else YAML with CloudFormation's tags."""
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise TableError(f"{source}: not valid JSON ({exc})") from None
        except RecursionError:  # the json module decodes nested values recursively
            raise TableError(f"{source}: nests too deeply to read") from None
    import yaml

    try:
        return yaml.load(text, Loader=_cfn_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise TableError(f"{source}: not valid YAML ({exc})") from None
    except RecursionError:  # PyYAML builds nested nodes recursively
        raise TableError(f"{source}: nests too deeply to read") from None


class _Resolver(Checks):
    """Resolves the intrinsic functions of one resource's properties, or refuses naming the resource."""

    root = "Properties"
    fix = _FIX

    def __init__(self, parameters: Mapping[str, Any], region: str, resource: str, source: str) -> None:
        self.parameters, self.region = parameters, region
        self.resource, self.source = resource, source

    def declared_parameters(self) -> str:
        """The declared parameters, so that a misspelt name is plain to see."""
        if not self.parameters:
            return "the template declares no Parameters"
        return "the declared parameters: " + ", ".join(str(name) for name in self.parameters)

    def ref(self, name: Any, path: str, via: str | None = None) -> Any:
        """A ``Ref``'s value; ``via`` names it in messages (``Fn::Sub ${Stage}``, not ``Ref Stage``)."""
        if not isinstance(name, str):
            raise self.refuse(path, f"Ref to {describe(name)} is not a name", "write !Ref NAME")
        what = via or f"Ref {name}"
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": LOCAL_ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": _NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name.startswith("AWS::"):
            raise self.refuse(path, f"{what} has no value outside a deployed stack")
        param = self.parameters.get(name)
        if param is None:
            raise self.refuse(
                path, f"{what} names a resource or an undeclared parameter ({self.declared_parameters()})"
            )
        if not isinstance(param, Mapping) or param.get("Default") is None:
            raise self.refuse(path, f"{what}: the parameter has no Default")
        default = param["Default"]
        if isinstance(default, int | float) and not isinstance(default, bool):
            return str(default)
        kind = param.get("Type")
        if (
            isinstance(kind, str)
            and isinstance(default, str)
            and (kind == "CommaDelimitedList" or kind.startswith("List<"))
        ):
            return [part.strip() for part in default.split(",")]  # as CloudFormation passes a list parameter
        return default

    def sub(self, arg: Any, path: str, depth: int) -> str:
        template: str | None = arg if isinstance(arg, str) else None
        variables: dict[str, Any] | None = {} if isinstance(arg, str) else None
        if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str) and isinstance(arg[1], dict):
            template = arg[0]
            variables = {k: self.value(v, f"{path}.Fn::Sub", depth + 1) for k, v in arg[1].items()}
        if template is None or variables is None:
            raise self.refuse(path, "Fn::Sub takes a string or [string, {variables}]")

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} is the text ${Literal}
                return "${" + name[1:] + "}"
            what = f"Fn::Sub ${{{name}}}"
            if name in variables:
                value = variables[name]
            elif "." in name:
                raise self.refuse(path, f"{what} needs a deployed resource's attribute")
            else:
                value = self.ref(name, path, what)
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise self.refuse(path, f"{what} is not a string")
            return str(value)

        return _SUB_VAR.sub(one, template)

    def value(self, node: Any, path: str, depth: int = 0) -> Any:
        """``node`` with every intrinsic function replaced by its value."""
        if depth > 100:  # only a YAML alias inside itself nests this deep
            raise self.refuse(
                path, "nests more than 100 levels deep", "write it without a YAML alias to itself"
            )
        if isinstance(node, list):
            out = [self.value(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(node)]
            return [v for v in out if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg, path)
            if key == "Fn::Sub":
                return self.sub(arg, path, depth)
            if key == "Fn::Join":
                return self.join(arg, path, depth)
            if key == "Fn::Select":
                return self.select(arg, path, depth)
            if key == "Condition" or (isinstance(key, str) and key.startswith("Fn::")):
                raise self.refuse(path, f"{key} cannot be worked out without deploying the stack")
        resolved = {k: self.value(v, f"{path}.{k}", depth + 1) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def join(self, arg: Any, path: str, depth: int) -> str:
        if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str)):
            raise self.refuse(
                path, "Fn::Join takes [delimiter, [values]]", "write !Join [DELIMITER, [VALUES]]"
            )
        parts = self.value(arg[1], path, depth + 1)
        if not isinstance(parts, list):
            raise self.refuse(path, "Fn::Join needs a list")
        return arg[0].join(self.text(p, f"{path}.Fn::Join[1][{i}]") for i, p in enumerate(parts))

    def select(self, arg: Any, path: str, depth: int) -> Any:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise self.refuse(path, "Fn::Select takes [index, [values]]", "write !Select [INDEX, [VALUES]]")
        index = self.value(arg[0], path, depth + 1)
        choices = self.value(arg[1], path, depth + 1)
        if not isinstance(choices, list):
            raise self.refuse(path, f"Fn::Select needs a list of values, not {describe(choices)}")
        number = whole(index)
        if number is None:
            raise self.refuse(path, f"Fn::Select's index is {describe(index)}, not a whole number")
        if not 0 <= number < len(choices):
            raise self.refuse(
                path,
                f"Fn::Select index {number} is out of range: the list has {len(choices)} values",
                f"give an index of 0 to {len(choices) - 1}" if choices else "give it a list with values",
            )
        return choices[number]


def tables_in(template: Any, source: str, region: str) -> list[TableSpec]:
    """The DynamoDB tables a parsed template declares, in template order."""
    resources = template.get("Resources") if isinstance(template, dict) else None
    if not isinstance(resources, dict):
        raise TableError(f"{source}: has no Resources section; is it a CloudFormation or SAM template?")
    parameters = template.get("Parameters") or {}
    if not isinstance(parameters, dict):
        raise TableError(
            f"{source}: Parameters is {describe(parameters)}, not a mapping; write NAME: {{Default: ...}}"
        )
    specs = []
    for logical, resource in resources.items():
        if not isinstance(resource, dict) or resource.get("Type") not in TABLE_TYPES:
            continue
        resolver = _Resolver(parameters, region, str(logical), source)
        props = resolver.mapping(resolver.value(resource.get("Properties") or {}, "Properties"), "Properties")
        kind = resource["Type"]
        convert = {
            "AWS::DynamoDB::Table": _table,
            "AWS::DynamoDB::GlobalTable": _global_table,
            "AWS::Serverless::SimpleTable": _simple_table,
        }[kind]
        create, ttl, not_applied = convert(props, resolver)
        if "Condition" in resource:
            not_applied.append(f"Condition {resource['Condition']} (not evaluated: the table is created)")
        notes: tuple[str, ...] = ()
        if "TableName" not in create:
            create["TableName"] = str(logical)
            notes = (f"{logical} has no TableName: created as {logical!r}",)
        elif not isinstance(create["TableName"], str):
            raise resolver.refuse("Properties.TableName", "is not a string")
        specs.append(
            TableSpec(
                name=create["TableName"],
                resource=str(logical),
                source=source,
                create=create,
                ttl_attribute=ttl,
                not_applied=tuple(dict.fromkeys(not_applied)),
                notes=notes,
            )
        )
    return specs


_TABLE_APPLIED = {
    "TableName",
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "StreamSpecification",
    "TimeToLiveSpecification",
    "Tags",
    "TableClass",
}
_ON_DEMAND = "(BillingMode is PAY_PER_REQUEST)"


def _top_level(props: dict[Any, Any], applied: set[str]) -> list[str]:
    return sorted(str(k) for k in props if k not in applied)


def _billing(props: dict[Any, Any], r: _Resolver) -> str:
    billing = props.get("BillingMode")
    return "PROVISIONED" if billing is None else r.choice(billing, "Properties.BillingMode", BILLING_MODES)


def _throughput(raw: Any, path: str, r: _Resolver, not_applied: list[str]) -> dict[str, int]:
    """A ``ProvisionedThroughput`` mapping."""
    pt = r.mapping(raw, path, "write {ReadCapacityUnits: N, WriteCapacityUnits: N}")
    read = r.units(r.required(pt, "ReadCapacityUnits", path), f"{path}.ReadCapacityUnits")
    write = r.units(r.required(pt, "WriteCapacityUnits", path), f"{path}.WriteCapacityUnits")
    r.unapplied(pt, {"ReadCapacityUnits", "WriteCapacityUnits"}, path, not_applied)
    return throughput(read, write)


def _key_schema(raw: Any, path: str, r: _Resolver, not_applied: list[str]) -> list[dict[str, str]]:
    entries = r.sequence(raw, path, "write [{AttributeName: NAME, KeyType: HASH}, ...]")
    if not entries:
        raise r.refuse(path, "is empty", "give the HASH key (and a RANGE key)")
    keys = []
    for i, entry in enumerate(entries):
        where = f"{path}[{i}]"
        key = r.mapping(entry, where, "write {AttributeName: NAME, KeyType: HASH or RANGE}")
        keys.append(
            {
                "AttributeName": r.text(r.required(key, "AttributeName", where), f"{where}.AttributeName"),
                "KeyType": r.choice(r.required(key, "KeyType", where), f"{where}.KeyType", KEY_TYPES),
            }
        )
        r.unapplied(key, {"AttributeName", "KeyType"}, where, not_applied)
    return keys


def _attributes(raw: Any, path: str, r: _Resolver, not_applied: list[str]) -> list[dict[str, str]]:
    entries = r.sequence(raw, path, "write [{AttributeName: NAME, AttributeType: S}, ...]")
    attributes = []
    for i, entry in enumerate(entries):
        where = f"{path}[{i}]"
        attribute = r.mapping(entry, where, "write {AttributeName: NAME, AttributeType: S, N or B}")
        name = r.text(r.required(attribute, "AttributeName", where), f"{where}.AttributeName")
        kind = r.choice(
            r.required(attribute, "AttributeType", where), f"{where}.AttributeType", ATTRIBUTE_TYPES
        )
        attributes.append({"AttributeName": name, "AttributeType": kind})
        r.unapplied(attribute, {"AttributeName", "AttributeType"}, where, not_applied)
    return attributes


def _projection(raw: Any, path: str, r: _Resolver, not_applied: list[str]) -> dict[str, Any]:
    if raw is None:
        return projection(None)
    proj = r.mapping(raw, path, "write {ProjectionType: ALL, KEYS_ONLY or INCLUDE}")
    kind = proj.get("ProjectionType")
    non_key = proj.get("NonKeyAttributes")
    r.unapplied(proj, {"ProjectionType", "NonKeyAttributes"}, path, not_applied)
    return projection(
        None if kind is None else r.choice(kind, f"{path}.ProjectionType", PROJECTION_TYPES),
        None if non_key is None else r.texts(non_key, f"{path}.NonKeyAttributes"),
    )


def _index(
    raw: Any,
    path: str,
    r: _Resolver,
    not_applied: list[str],
    *,
    table_throughput: dict[str, int] | None,
    own_throughput: bool,
) -> dict[str, Any]:
    """One GSI or LSI. ``table_throughput`` is the table's (None: on demand, or an LSI, which has none);
    an index with ``own_throughput`` (a Table's GSI) may give its own ``ProvisionedThroughput``."""
    entry = r.mapping(raw, path, "write each index as a mapping with IndexName, KeySchema and Projection")
    index: dict[str, Any] = {
        "IndexName": r.text(r.required(entry, "IndexName", path), f"{path}.IndexName"),
        "KeySchema": _key_schema(r.required(entry, "KeySchema", path), f"{path}.KeySchema", r, not_applied),
        "Projection": _projection(entry.get("Projection"), f"{path}.Projection", r, not_applied),
    }
    applied = {"IndexName", "KeySchema", "Projection"}
    own = entry.get("ProvisionedThroughput") if own_throughput else None
    if own is not None:
        applied.add("ProvisionedThroughput")
        if table_throughput is None:
            not_applied.append(f"{path.removeprefix('Properties.')}.ProvisionedThroughput {_ON_DEMAND}")
        else:
            index["ProvisionedThroughput"] = _throughput(own, f"{path}.ProvisionedThroughput", r, not_applied)
    if table_throughput is not None and "ProvisionedThroughput" not in index:
        index["ProvisionedThroughput"] = table_throughput
    r.unapplied(entry, applied, path, not_applied)  # a GlobalTable's WriteProvisionedThroughputSettings too
    return index


def _common(
    props: dict[Any, Any], create: dict[str, Any], r: _Resolver, not_applied: list[str], gsi_throughput: bool
) -> str | None:
    """The parts Table and GlobalTable share: keys, indexes, streams; returns the TTL attribute."""
    if "TableName" in props:
        create["TableName"] = props["TableName"]
    create["AttributeDefinitions"] = _attributes(
        r.required(props, "AttributeDefinitions", "Properties"),
        "Properties.AttributeDefinitions",
        r,
        not_applied,
    )
    create["KeySchema"] = _key_schema(
        r.required(props, "KeySchema", "Properties"), "Properties.KeySchema", r, not_applied
    )
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(key) is None:
            continue
        path = f"Properties.{key}"
        gsi = key == "GlobalSecondaryIndexes"
        indexes = [
            _index(
                raw,
                f"{path}[{i}]",
                r,
                not_applied,
                table_throughput=create.get("ProvisionedThroughput") if gsi else None,
                own_throughput=gsi and gsi_throughput,
            )
            for i, raw in enumerate(r.sequence(props[key], path, "write a list of indexes"))
        ]
        if indexes:
            create[key] = indexes
    if props.get("StreamSpecification") is not None:
        path = "Properties.StreamSpecification"
        stream = r.mapping(props["StreamSpecification"], path, "write {StreamViewType: NEW_AND_OLD_IMAGES}")
        view = r.choice(
            r.required(stream, "StreamViewType", path), f"{path}.StreamViewType", STREAM_VIEW_TYPES
        )
        create["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view}
        r.unapplied(stream, {"StreamViewType"}, path, not_applied)  # ResourcePolicy: no local effect
    if props.get("TimeToLiveSpecification") is None:
        return None
    path = "Properties.TimeToLiveSpecification"
    ttl = r.mapping(props["TimeToLiveSpecification"], path, "write {AttributeName: NAME, Enabled: true}")
    r.unapplied(ttl, {"AttributeName", "Enabled"}, path, not_applied)
    if not r.flag(r.required(ttl, "Enabled", path), f"{path}.Enabled"):
        return None
    return r.text(r.required(ttl, "AttributeName", path), f"{path}.AttributeName")


def _table(props: dict[Any, Any], r: _Resolver) -> tuple[dict[str, Any], str | None, list[str]]:
    not_applied = _top_level(props, _TABLE_APPLIED)
    create: dict[str, Any] = {"BillingMode": _billing(props, r)}
    pt = props.get("ProvisionedThroughput")
    if create["BillingMode"] == "PROVISIONED":
        if not pt:
            raise r.refuse(
                "Properties", "BillingMode PROVISIONED (the default) needs ProvisionedThroughput", "add it"
            )
        create["ProvisionedThroughput"] = _throughput(pt, "Properties.ProvisionedThroughput", r, not_applied)
    elif pt is not None:
        not_applied.append(f"ProvisionedThroughput {_ON_DEMAND}")
    ttl = _common(props, create, r, not_applied, gsi_throughput=True)
    if props.get("Tags") is not None:
        tags = []
        for i, raw in enumerate(
            r.sequence(props["Tags"], "Properties.Tags", "write [{Key: K, Value: V}, ...]")
        ):
            where = f"Properties.Tags[{i}]"
            tag = r.mapping(raw, where, "write {Key: K, Value: V}")
            key = r.text(r.required(tag, "Key", where), f"{where}.Key")
            tags.append({"Key": key, "Value": r.text(r.required(tag, "Value", where), f"{where}.Value")})
            r.unapplied(tag, {"Key", "Value"}, where, not_applied)
        if tags:
            create["Tags"] = tags
    if props.get("TableClass") is not None:
        create["TableClass"] = r.choice(props["TableClass"], "Properties.TableClass", TABLE_CLASSES)
    return create, ttl, not_applied


_GLOBAL_APPLIED = {
    "TableName",
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "StreamSpecification",
    "TimeToLiveSpecification",
    "WriteProvisionedThroughputSettings",
    "Replicas",
}


def _min_capacity(
    settings: dict[Any, Any], key: str, path: str, r: _Resolver, not_applied: list[str]
) -> int | None:
    """The ``MinCapacity`` of an auto scaling setting: the local table's fixed capacity."""
    if settings.get(key) is None:
        return None
    where = f"{path}.{key}"
    scaling = r.mapping(settings[key], where, "write {MinCapacity: N, MaxCapacity: N, ...}")
    r.unapplied(scaling, {"MinCapacity"}, where, not_applied)  # the local table does not scale
    if scaling.get("MinCapacity") is None:
        return None
    return r.units(scaling["MinCapacity"], f"{where}.MinCapacity")


def _global_table(props: dict[Any, Any], r: _Resolver) -> tuple[dict[str, Any], str | None, list[str]]:
    """A global table becomes one local table (its first replica's settings)."""
    not_applied = _top_level(props, _GLOBAL_APPLIED)
    create: dict[str, Any] = {"BillingMode": _billing(props, r)}
    provisioned = create["BillingMode"] == "PROVISIONED"
    replicas = r.sequence(props.get("Replicas") or [], "Properties.Replicas", "write a list of replicas")
    first: dict[Any, Any] = {}
    for i, raw in enumerate(replicas):
        where = f"Properties.Replicas[{i}]"
        replica = r.mapping(raw, where, "write each replica as a mapping with its Region")
        if i == 0:
            first = replica
            r.unapplied(replica, {"Region", "ReadProvisionedThroughputSettings"}, where, not_applied)
            if not provisioned and replica.get("ReadProvisionedThroughputSettings") is not None:
                not_applied.append(f"Replicas[0].ReadProvisionedThroughputSettings {_ON_DEMAND}")
        else:  # one local table: only the first replica's settings are read
            r.unapplied(replica, {"Region"}, where, not_applied)
    write_raw = props.get("WriteProvisionedThroughputSettings")
    if provisioned:
        write = read = None
        if write_raw is not None:
            path = "Properties.WriteProvisionedThroughputSettings"
            settings = r.mapping(
                write_raw, path, "write {WriteCapacityAutoScalingSettings: {MinCapacity: N, ...}}"
            )
            r.unapplied(settings, {"WriteCapacityAutoScalingSettings"}, path, not_applied)
            write = _min_capacity(settings, "WriteCapacityAutoScalingSettings", path, r, not_applied)
        if first.get("ReadProvisionedThroughputSettings") is not None:
            path = "Properties.Replicas[0].ReadProvisionedThroughputSettings"
            settings = r.mapping(
                first["ReadProvisionedThroughputSettings"], path, "write {ReadCapacityUnits: N}"
            )
            r.unapplied(settings, {"ReadCapacityUnits", "ReadCapacityAutoScalingSettings"}, path, not_applied)
            if settings.get("ReadCapacityUnits") is not None:
                read = r.units(settings["ReadCapacityUnits"], f"{path}.ReadCapacityUnits")
                if settings.get("ReadCapacityAutoScalingSettings") is not None:
                    not_applied.append(
                        "Replicas[0].ReadProvisionedThroughputSettings.ReadCapacityAutoScalingSettings "
                        "(ReadCapacityUnits is used)"
                    )
            else:
                read = _min_capacity(settings, "ReadCapacityAutoScalingSettings", path, r, not_applied)
        if write is None or read is None:
            raise r.refuse(
                "Properties",
                "a PROVISIONED global table needs WriteProvisionedThroughputSettings and its replica's "
                "ReadProvisionedThroughputSettings",
            )
        create["ProvisionedThroughput"] = throughput(read, write)
    elif write_raw is not None:
        not_applied.append(f"WriteProvisionedThroughputSettings {_ON_DEMAND}")
    ttl = _common(props, create, r, not_applied, gsi_throughput=False)
    return create, ttl, not_applied


_SIMPLE_TYPES = {"String": "S", "Number": "N", "Binary": "B"}


def _simple_table(props: dict[Any, Any], r: _Resolver) -> tuple[dict[str, Any], str | None, list[str]]:
    """SAM's SimpleTable: one key (``id`` of type String unless PrimaryKey says otherwise)."""
    not_applied = _top_level(props, {"TableName", "PrimaryKey", "ProvisionedThroughput", "Tags"})
    name, kind = "id", "String"
    if props.get("PrimaryKey") is not None:
        path = "Properties.PrimaryKey"
        key = r.mapping(props["PrimaryKey"], path, "write {Name: NAME, Type: String}")
        r.unapplied(key, {"Name", "Type"}, path, not_applied)
        if key.get("Name") is not None:
            name = r.text(key["Name"], f"{path}.Name")
        if key.get("Type") is not None:
            kind = r.choice(key["Type"], f"{path}.Type", tuple(_SIMPLE_TYPES))
    create: dict[str, Any] = {
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": _SIMPLE_TYPES[kind]}],
        "KeySchema": [{"AttributeName": name, "KeyType": "HASH"}],
    }
    if "TableName" in props:
        create["TableName"] = props["TableName"]
    pt = props.get("ProvisionedThroughput")
    if pt is not None:
        create["BillingMode"] = "PROVISIONED"
        create["ProvisionedThroughput"] = _throughput(pt, "Properties.ProvisionedThroughput", r, not_applied)
    else:
        create["BillingMode"] = "PAY_PER_REQUEST"
    if props.get("Tags") is not None:
        tags = r.mapping(props["Tags"], "Properties.Tags", "write {KEY: VALUE, ...}")
        create["Tags"] = [
            {"Key": str(k), "Value": r.text(v, f"Properties.Tags.{k}")} for k, v in tags.items()
        ]
        if not create["Tags"]:
            del create["Tags"]
    return create, None, not_applied
