"""DynamoDB tables declared in a CloudFormation or SAM template (YAML or JSON).

Reads ``AWS::DynamoDB::Table``, ``AWS::DynamoDB::GlobalTable`` and ``AWS::Serverless::SimpleTable``.
YAML templates are read with PyYAML and constructors for CloudFormation's short tags (``!Ref``,
``!Sub``, ``!GetAtt``...). Intrinsic functions that can be worked out offline are resolved (``Ref`` to
a parameter's ``Default`` or to ``AWS::Region``/``AWS::AccountId``/``AWS::Partition``/``AWS::URLSuffix``,
``Fn::Sub``, ``Fn::Join``, ``Fn::Select``); anything else is refused with an error naming the resource.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pytest_dualmode.tables.model import TableError, TableSpec, projection, throughput

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
    import yaml

    try:
        return yaml.load(text, Loader=_cfn_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise TableError(f"{source}: not valid YAML ({exc})") from None


class _Resolver:
    """Resolves the intrinsic functions of one resource's properties, or refuses naming the resource."""

    def __init__(self, parameters: Mapping[str, Any], region: str, resource: str, source: str) -> None:
        self.parameters, self.region = parameters, region
        self.resource, self.source = resource, source

    def refuse(self, path: str, why: str, fix: str = _FIX) -> TableError:
        """The error for a value that cannot be used locally, naming the file, resource and property."""
        return TableError(f"{self.source}: resource {self.resource}, {path}: {why}; {fix}")

    def ref(self, name: Any, path: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": LOCAL_ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": _NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if not isinstance(name, str):
            raise self.refuse(path, f"Ref to {name!r} is not a name")
        if name.startswith("AWS::"):
            raise self.refuse(path, f"Ref {name} has no value outside a deployed stack")
        param = self.parameters.get(name)
        if param is None:
            raise self.refuse(path, f"Ref {name} names a resource or an undeclared parameter")
        if not isinstance(param, Mapping) or "Default" not in param:
            raise self.refuse(path, f"Ref {name}: the parameter has no Default")
        default = param["Default"]
        return str(default) if isinstance(default, int | float) and not isinstance(default, bool) else default

    def sub(self, arg: Any, path: str) -> str:
        template: str | None = arg if isinstance(arg, str) else None
        variables: dict[str, Any] | None = {} if isinstance(arg, str) else None
        if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str) and isinstance(arg[1], dict):
            template, variables = arg[0], {k: self.value(v, f"{path}.Fn::Sub") for k, v in arg[1].items()}
        if template is None or variables is None:
            raise self.refuse(path, "Fn::Sub takes a string or [string, {variables}]")

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} is the text ${Literal}
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name:
                raise self.refuse(path, f"Fn::Sub ${{{name}}} needs a deployed resource's attribute")
            value = self.ref(name, path)
            if value is _NO_VALUE or not isinstance(value, str):
                raise self.refuse(path, f"Fn::Sub ${{{name}}} is not a string")
            return value

        return _SUB_VAR.sub(one, template)

    def value(self, node: Any, path: str) -> Any:
        """``node`` with every intrinsic function replaced by its value."""
        if isinstance(node, list):
            out = [self.value(v, f"{path}[{i}]") for i, v in enumerate(node)]
            return [v for v in out if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg, path)
            if key == "Fn::Sub":
                return self.sub(arg, path)
            if key == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
                parts = self.value(arg[1], path)
                if not isinstance(parts, list):
                    raise self.refuse(path, "Fn::Join needs a list")
                return str(arg[0]).join(str(p) for p in parts)
            if key == "Fn::Select" and isinstance(arg, list) and len(arg) == 2:
                choices = self.value(arg[1], path)
                return choices[int(self.value(arg[0], path))]
            if key.startswith("Fn::") or key == "Condition":
                raise self.refuse(path, f"{key} cannot be worked out without deploying the stack")
        resolved = {k: self.value(v, f"{path}.{k}") for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}


def tables_in(template: Any, source: str, region: str) -> list[TableSpec]:
    """The DynamoDB tables a parsed template declares, in template order."""
    resources = template.get("Resources") if isinstance(template, dict) else None
    if not isinstance(resources, dict):
        raise TableError(f"{source}: has no Resources section; is it a CloudFormation or SAM template?")
    parameters = template.get("Parameters") or {}
    specs = []
    for logical, resource in resources.items():
        if not isinstance(resource, dict) or resource.get("Type") not in TABLE_TYPES:
            continue
        resolver = _Resolver(parameters, region, str(logical), source)
        props = resolver.value(resource.get("Properties") or {}, "Properties")
        if not isinstance(props, dict):
            raise resolver.refuse("Properties", "is not a mapping")
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
                not_applied=tuple(not_applied),
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
_INDEX_APPLIED = {"IndexName", "KeySchema", "Projection", "ProvisionedThroughput"}


def _index(raw: Any, path: str, not_applied: list[str], throughput_from: Any = None) -> dict[str, Any]:
    index = {k: raw[k] for k in ("IndexName", "KeySchema") if k in raw}
    proj = raw.get("Projection") or {}
    index["Projection"] = projection(proj.get("ProjectionType"), proj.get("NonKeyAttributes"))
    pt = raw.get("ProvisionedThroughput") or throughput_from
    if pt:
        index["ProvisionedThroughput"] = throughput(pt["ReadCapacityUnits"], pt["WriteCapacityUnits"])
    not_applied += [
        f"{path}.{k}" for k in raw if k not in _INDEX_APPLIED | {"WriteProvisionedThroughputSettings"}
    ]
    return index


def _common(props: dict[str, Any], create: dict[str, Any], not_applied: list[str]) -> str | None:
    """The parts Table and GlobalTable share: keys, indexes, streams; returns the TTL attribute."""
    for key in ("TableName", "AttributeDefinitions", "KeySchema"):
        if key in props:
            create[key] = props[key]
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(key):
            create[key] = [
                _index(raw, f"{key}[{i}]", not_applied, create.get("ProvisionedThroughput"))
                for i, raw in enumerate(props[key])
            ]
            if key == "LocalSecondaryIndexes":
                for index in create[key]:
                    index.pop("ProvisionedThroughput", None)
    stream = props.get("StreamSpecification")
    if stream and stream.get("StreamViewType"):
        create["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    ttl = props.get("TimeToLiveSpecification") or {}
    if ttl.get("Enabled") in (True, "true", "True") and ttl.get("AttributeName"):
        return str(ttl["AttributeName"])
    return None


def _table(props: dict[str, Any], r: _Resolver) -> tuple[dict[str, Any], str | None, list[str]]:
    not_applied = sorted(k for k in props if k not in _TABLE_APPLIED)
    create: dict[str, Any] = {"BillingMode": props.get("BillingMode", "PROVISIONED")}
    if create["BillingMode"] == "PROVISIONED":
        pt = props.get("ProvisionedThroughput")
        if not pt:
            raise r.refuse(
                "Properties", "BillingMode PROVISIONED (the default) needs ProvisionedThroughput", "add it"
            )
        create["ProvisionedThroughput"] = throughput(pt["ReadCapacityUnits"], pt["WriteCapacityUnits"])
    ttl = _common(props, create, not_applied)
    if props.get("Tags"):
        create["Tags"] = [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in props["Tags"]]
    if props.get("TableClass"):
        create["TableClass"] = props["TableClass"]
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


def _min_capacity(settings: Any, key: str) -> int | None:
    scaling = (settings or {}).get(key) or {}
    return int(scaling["MinCapacity"]) if "MinCapacity" in scaling else None


def _global_table(props: dict[str, Any], r: _Resolver) -> tuple[dict[str, Any], str | None, list[str]]:
    """A global table becomes one local table (its first replica's settings)."""
    not_applied = sorted(k for k in props if k not in _GLOBAL_APPLIED)
    create: dict[str, Any] = {"BillingMode": props.get("BillingMode", "PROVISIONED")}
    replicas = props.get("Replicas") or [{}]
    first = replicas[0]
    not_applied += sorted(
        f"Replicas[].{k}" for k in first if k not in ("Region", "ReadProvisionedThroughputSettings")
    )
    if create["BillingMode"] == "PROVISIONED":
        write = _min_capacity(
            props.get("WriteProvisionedThroughputSettings"), "WriteCapacityAutoScalingSettings"
        )
        read_settings = first.get("ReadProvisionedThroughputSettings") or {}
        read = read_settings.get("ReadCapacityUnits") or _min_capacity(
            read_settings, "ReadCapacityAutoScalingSettings"
        )
        if write is None or read is None:
            raise r.refuse(
                "Properties",
                "a PROVISIONED global table needs WriteProvisionedThroughputSettings and its replica's "
                "ReadProvisionedThroughputSettings",
            )
        create["ProvisionedThroughput"] = throughput(read, write)
    ttl = _common(props, create, not_applied)
    return create, ttl, not_applied


_SIMPLE_TYPES = {"String": "S", "Number": "N", "Binary": "B"}


def _simple_table(props: dict[str, Any], r: _Resolver) -> tuple[dict[str, Any], str | None, list[str]]:
    """SAM's SimpleTable: one key (``id`` of type String unless PrimaryKey says otherwise)."""
    not_applied = sorted(
        k for k in props if k not in {"TableName", "PrimaryKey", "ProvisionedThroughput", "Tags"}
    )
    key = props.get("PrimaryKey") or {"Name": "id", "Type": "String"}
    if key.get("Type", "String") not in _SIMPLE_TYPES:
        raise r.refuse("Properties.PrimaryKey.Type", f"{key.get('Type')!r} is not String, Number or Binary")
    name = str(key.get("Name", "id"))
    create: dict[str, Any] = {
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": _SIMPLE_TYPES[key.get("Type", "String")]}
        ],
        "KeySchema": [{"AttributeName": name, "KeyType": "HASH"}],
    }
    if "TableName" in props:
        create["TableName"] = props["TableName"]
    pt = props.get("ProvisionedThroughput")
    if pt:
        create["BillingMode"] = "PROVISIONED"
        create["ProvisionedThroughput"] = throughput(pt["ReadCapacityUnits"], pt["WriteCapacityUnits"])
    else:
        create["BillingMode"] = "PAY_PER_REQUEST"
    if props.get("Tags"):
        create["Tags"] = [{"Key": str(k), "Value": str(v)} for k, v in props["Tags"].items()]
    return create, None, not_applied
