"""Malformed table files: every wrong shape, missing key or bad value is a TableError that names the file,
the resource and the property, what is wrong and what to do (never a Python error, which pytest reports
as an INTERNALERROR); and nested properties with no local effect are listed, like top-level ones."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_dualmode.tables import TableError, load
from pytest_dualmode.tables.cloudformation import tables_in
from pytest_dualmode.tables.terraform import load_terraform, tables_in_terraform


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _refused(tmp_path: Path, name: str, text: str) -> str:
    with pytest.raises(TableError) as info:
        load([_write(tmp_path, name, text)], "us-east-1")
    return str(info.value)


def _table(kind: str = "AWS::DynamoDB::Table", **props: Any) -> dict[str, Any]:
    """A template (as JSON) with one valid provisioned table, whose properties ``props`` change or
    remove (a value of None)."""
    base: dict[str, Any] = {
        "TableName": "orders",
        "BillingMode": "PROVISIONED",
        "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    }
    if kind == "AWS::Serverless::SimpleTable":
        base = {"TableName": "orders"}
    base.update(props)
    properties = {k: v for k, v in base.items() if v is not None}
    return {
        "Parameters": {"Stage": {"Type": "String", "Default": "dev"}},
        "Resources": {"Orders": {"Type": kind, "Properties": properties}},
    }


def _gsi(**changes: Any) -> list[Any]:
    index: dict[str, Any] = {
        "IndexName": "by-g",
        "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"},
    }
    index.update(changes)
    return [{k: v for k, v in index.items() if v is not None}]


_GLOBAL = "AWS::DynamoDB::GlobalTable"
_SIMPLE = "AWS::Serverless::SimpleTable"
_READ_1 = {"ReadProvisionedThroughputSettings": {"ReadCapacityUnits": 1}}
_WRITE_1 = {"WriteCapacityAutoScalingSettings": {"MinCapacity": 1}}

# (template, the property the message names, what it says is wrong and what to do)
CLOUDFORMATION_CASES = {
    "throughput without WriteCapacityUnits": (
        _table(ProvisionedThroughput={"ReadCapacityUnits": 1}),
        "Properties.ProvisionedThroughput: has no WriteCapacityUnits; add WriteCapacityUnits",
    ),
    "a GSI's throughput without WriteCapacityUnits": (
        _table(GlobalSecondaryIndexes=_gsi(ProvisionedThroughput={"ReadCapacityUnits": 1})),
        "Properties.GlobalSecondaryIndexes[0].ProvisionedThroughput: has no WriteCapacityUnits",
    ),
    "a SimpleTable's throughput without WriteCapacityUnits": (
        _table(_SIMPLE, ProvisionedThroughput={"ReadCapacityUnits": 1}),
        "Properties.ProvisionedThroughput: has no WriteCapacityUnits; add WriteCapacityUnits",
    ),
    "throughput that is a list": (
        _table(ProvisionedThroughput=[1, 1]),
        "Properties.ProvisionedThroughput: is a list, not a mapping; "
        "write {ReadCapacityUnits: N, WriteCapacityUnits: N}",
    ),
    "capacity units that are not a number": (
        _table(ProvisionedThroughput={"ReadCapacityUnits": "five", "WriteCapacityUnits": 1}),
        "Properties.ProvisionedThroughput.ReadCapacityUnits: a string ('five') is not a number of capacity "
        "units; write a whole number, 1 or more",
    ),
    "capacity units that are not whole": (
        _table(ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 2.5}),
        "Properties.ProvisionedThroughput.WriteCapacityUnits: a number (2.5) is not a number of capacity",
    ),
    "capacity units of zero": (
        _table(ProvisionedThroughput={"ReadCapacityUnits": 0, "WriteCapacityUnits": 1}),
        "Properties.ProvisionedThroughput.ReadCapacityUnits: a number (0) is not a number of capacity",
    ),
    "capacity units that are a mapping": (
        _table(ProvisionedThroughput={"ReadCapacityUnits": {"n": 1}, "WriteCapacityUnits": 1}),
        "Properties.ProvisionedThroughput.ReadCapacityUnits: a mapping is not a number of capacity units",
    ),
    "Fn::Select with an index out of range": (
        _table(TableName={"Fn::Select": [3, ["a", "b"]]}),
        "Properties.TableName: Fn::Select index 3 is out of range: the list has 2 values; "
        "give an index of 0 to 1",
    ),
    "Fn::Select with an index that is not a number": (
        _table(TableName={"Fn::Select": ["first", ["a", "b"]]}),
        "Properties.TableName: Fn::Select's index is a string ('first'), not a whole number",
    ),
    "Fn::Select from a mapping": (
        _table(TableName={"Fn::Select": [0, {"a": "b"}]}),
        "Properties.TableName: Fn::Select needs a list of values, not a mapping",
    ),
    "Fn::Select with one argument": (
        _table(TableName={"Fn::Select": [0]}),
        "Properties.TableName: Fn::Select takes [index, [values]]; write !Select [INDEX, [VALUES]]",
    ),
    "Fn::Join of mappings": (
        _table(TableName={"Fn::Join": ["-", [{"a": "b"}]]}),
        "Properties.TableName.Fn::Join[1][0]: is a mapping, not a string; write it as a string",
    ),
    "Ref to a list": (
        _table(TableName={"Ref": ["Stage"]}),
        "Properties.TableName: Ref to a list is not a name; write !Ref NAME",
    ),
    "a GSI that is not a mapping": (
        _table(GlobalSecondaryIndexes=["by-g"]),
        "Properties.GlobalSecondaryIndexes[0]: is a string ('by-g'), not a mapping; "
        "write each index as a mapping with IndexName, KeySchema and Projection",
    ),
    "GSIs that are a mapping, not a list": (
        _table(GlobalSecondaryIndexes={"by-g": {}}),
        "Properties.GlobalSecondaryIndexes: is a mapping, not a list; write a list of indexes",
    ),
    "a GSI without IndexName": (
        _table(GlobalSecondaryIndexes=_gsi(IndexName=None)),
        "Properties.GlobalSecondaryIndexes[0]: has no IndexName; add IndexName",
    ),
    "an LSI without KeySchema": (
        _table(LocalSecondaryIndexes=[{"IndexName": "l", "Projection": {"ProjectionType": "ALL"}}]),
        "Properties.LocalSecondaryIndexes[0]: has no KeySchema; add KeySchema",
    ),
    "a KeySchema that is a string": (
        _table(KeySchema="pk"),
        "Properties.KeySchema: is a string ('pk'), not a list; write [{AttributeName: NAME, KeyType: HASH}",
    ),
    "an empty KeySchema": (
        _table(KeySchema=[]),
        "Properties.KeySchema: is empty; give the HASH key (and a RANGE key)",
    ),
    "a KeySchema entry without KeyType": (
        _table(KeySchema=[{"AttributeName": "pk"}]),
        "Properties.KeySchema[0]: has no KeyType; add KeyType",
    ),
    "a KeySchema entry without AttributeName": (
        _table(KeySchema=[{"KeyType": "HASH"}]),
        "Properties.KeySchema[0]: has no AttributeName; add AttributeName",
    ),
    "a KeySchema entry that is a string": (
        _table(KeySchema=["pk"]),
        "Properties.KeySchema[0]: is a string ('pk'), not a mapping",
    ),
    "a GSI's KeySchema with a bad KeyType": (
        _table(GlobalSecondaryIndexes=_gsi(KeySchema=[{"AttributeName": "g", "KeyType": "PARTITION"}])),
        "Properties.GlobalSecondaryIndexes[0].KeySchema[0].KeyType: a string ('PARTITION') is not one of "
        "HASH, RANGE; use one of them",
    ),
    "a bad AttributeType": (
        _table(AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "String"}]),
        "Properties.AttributeDefinitions[0].AttributeType: a string ('String') is not one of S, N, B",
    ),
    "AttributeDefinitions without AttributeType": (
        _table(AttributeDefinitions=[{"AttributeName": "pk"}]),
        "Properties.AttributeDefinitions[0]: has no AttributeType; add AttributeType",
    ),
    "no AttributeDefinitions": (
        _table(AttributeDefinitions=None),
        "resource Orders, Properties: has no AttributeDefinitions; add AttributeDefinitions",
    ),
    "no KeySchema": (_table(KeySchema=None), "resource Orders, Properties: has no KeySchema; add KeySchema"),
    "a bad ProjectionType": (
        _table(GlobalSecondaryIndexes=_gsi(Projection={"ProjectionType": "SOME"})),
        "Properties.GlobalSecondaryIndexes[0].Projection.ProjectionType: a string ('SOME') is not one of "
        "ALL, KEYS_ONLY, INCLUDE",
    ),
    "NonKeyAttributes that are a string": (
        _table(
            GlobalSecondaryIndexes=_gsi(Projection={"ProjectionType": "INCLUDE", "NonKeyAttributes": "t"})
        ),
        "Properties.GlobalSecondaryIndexes[0].Projection.NonKeyAttributes: is a string ('t'), not a list",
    ),
    "a Projection that is a string": (
        _table(GlobalSecondaryIndexes=_gsi(Projection="ALL")),
        "Properties.GlobalSecondaryIndexes[0].Projection: is a string ('ALL'), not a mapping",
    ),
    "a bad BillingMode": (
        _table(BillingMode="ON_DEMAND"),
        "Properties.BillingMode: a string ('ON_DEMAND') is not one of PROVISIONED, PAY_PER_REQUEST",
    ),
    "a StreamSpecification without StreamViewType": (
        _table(StreamSpecification={"StreamEnabled": True}),
        "Properties.StreamSpecification: has no StreamViewType; add StreamViewType",
    ),
    "a bad StreamViewType": (
        _table(StreamSpecification={"StreamViewType": "ALL"}),
        "Properties.StreamSpecification.StreamViewType: a string ('ALL') is not one of KEYS_ONLY, NEW_IMAGE",
    ),
    "a TTL whose Enabled is not a boolean": (
        _table(TimeToLiveSpecification={"AttributeName": "e", "Enabled": "yes"}),
        "Properties.TimeToLiveSpecification.Enabled: is a string ('yes'), not true or false; "
        "write true or false",
    ),
    "an enabled TTL without AttributeName": (
        _table(TimeToLiveSpecification={"Enabled": True}),
        "Properties.TimeToLiveSpecification: has no AttributeName; add AttributeName",
    ),
    "a TTL that is a list": (
        _table(TimeToLiveSpecification=[{"AttributeName": "e", "Enabled": True}]),
        "Properties.TimeToLiveSpecification: is a list, not a mapping",
    ),
    "Tags that are a mapping": (
        _table(Tags={"team": "a"}),
        "Properties.Tags: is a mapping, not a list; write [{Key: K, Value: V}, ...]",
    ),
    "a tag without Value": (_table(Tags=[{"Key": "team"}]), "Properties.Tags[0]: has no Value; add Value"),
    "a tag whose Value is a list": (
        _table(Tags=[{"Key": "team", "Value": ["a"]}]),
        "Properties.Tags[0].Value: is a list, not a string",
    ),
    "a bad TableClass": (
        _table(TableClass="INFREQUENT"),
        "Properties.TableClass: a string ('INFREQUENT') is not one of STANDARD, STANDARD_INFREQUENT_ACCESS",
    ),
    "Properties that are a list": (
        {"Resources": {"Orders": {"Type": "AWS::DynamoDB::Table", "Properties": ["TableName"]}}},
        "resource Orders, Properties: is a list, not a mapping",
    ),
    "Replicas that are a string": (
        _table(_GLOBAL, BillingMode="PAY_PER_REQUEST", ProvisionedThroughput=None, Replicas="us-east-1"),
        "Properties.Replicas: is a string ('us-east-1'), not a list; write a list of replicas",
    ),
    "a replica that is a string": (
        _table(_GLOBAL, BillingMode="PAY_PER_REQUEST", ProvisionedThroughput=None, Replicas=["us-east-1"]),
        "Properties.Replicas[0]: is a string ('us-east-1'), not a mapping",
    ),
    "a replica's read capacity that is not a number": (
        _table(
            _GLOBAL,
            ProvisionedThroughput=None,
            WriteProvisionedThroughputSettings=_WRITE_1,
            Replicas=[
                {"Region": "us-east-1", "ReadProvisionedThroughputSettings": {"ReadCapacityUnits": "x"}}
            ],
        ),
        "Properties.Replicas[0].ReadProvisionedThroughputSettings.ReadCapacityUnits: a string ('x') is not",
    ),
    "auto scaling settings that are a list": (
        _table(
            _GLOBAL,
            ProvisionedThroughput=None,
            WriteProvisionedThroughputSettings={"WriteCapacityAutoScalingSettings": [1]},
            Replicas=[{"Region": "us-east-1", **_READ_1}],
        ),
        "Properties.WriteProvisionedThroughputSettings.WriteCapacityAutoScalingSettings: is a list, "
        "not a mapping",
    ),
    "a MinCapacity that is not a number": (
        _table(
            _GLOBAL,
            ProvisionedThroughput=None,
            WriteProvisionedThroughputSettings={"WriteCapacityAutoScalingSettings": {"MinCapacity": "low"}},
            Replicas=[{"Region": "us-east-1", **_READ_1}],
        ),
        "WriteCapacityAutoScalingSettings.MinCapacity: a string ('low') is not a number of capacity units",
    ),
    "a SimpleTable PrimaryKey that is a string": (
        _table(_SIMPLE, PrimaryKey="id"),
        "Properties.PrimaryKey: is a string ('id'), not a mapping; write {Name: NAME, Type: String}",
    ),
    "a SimpleTable PrimaryKey Type that is a list": (
        _table(_SIMPLE, PrimaryKey={"Name": "id", "Type": ["String"]}),
        "Properties.PrimaryKey.Type: a list is not one of String, Number, Binary; use one of them",
    ),
    "SimpleTable Tags that are a list": (
        _table(_SIMPLE, Tags=[{"Key": "a", "Value": "b"}]),
        "Properties.Tags: is a list, not a mapping; write {KEY: VALUE, ...}",
    ),
}


@pytest.mark.parametrize(("template", "message"), CLOUDFORMATION_CASES.values(), ids=CLOUDFORMATION_CASES)
def test_malformed_cloudformation_is_refused_naming_the_property(
    tmp_path: Path, template: dict[str, Any], message: str
) -> None:
    error = _refused(tmp_path, "t.json", json.dumps(template))
    assert error.startswith(f"{tmp_path / 't.json'}: resource Orders, ")
    assert message in error


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("t.yaml", "", "t.yaml: is empty; give a CloudFormation/SAM template or a Terraform file"),
        ("main.tf", "\n\n", "main.tf: is empty"),
        ("t.yaml", "[" * 100_000, "t.yaml: nests too deeply to read"),
        ("t.json", '{"a": ' + "[" * 100_000, "t.json: nests too deeply to read"),
        (
            "t.yaml",
            "Parameters: [Stage]\nResources:\n  T: {Type: AWS::Serverless::SimpleTable}\n",
            "t.yaml: Parameters is a list, not a mapping",
        ),
        (
            "t.yaml",
            "Resources:\n  T:\n    Type: AWS::Serverless::SimpleTable\n"
            "    Properties: {TableName: orders, Tags: &x {a: *x}}\n",
            "resource T, Properties.Tags.a.a.a",
        ),
    ],
)
def test_files_that_cannot_be_read_say_why(tmp_path: Path, name: str, text: str, message: str) -> None:
    assert message in _refused(tmp_path, name, text)


TERRAFORM_TABLE = """
resource "aws_dynamodb_table" "orders" {{
  name           = "orders"
  read_capacity  = 1
  write_capacity = 1
  hash_key       = "pk"
  attribute {{
    name = "pk"
    type = "S"
  }}
  attribute {{
    name = "g"
    type = "S"
  }}
{extra}
}}
"""


def test_a_byte_order_mark_is_not_part_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "main.tf"
    path.write_bytes(b"\xef\xbb\xbf" + TERRAFORM_TABLE.format(extra="").encode())  # python-hcl2 refuses it
    (spec,) = load([str(path)], "us-east-1")
    assert spec.name == "orders"


TERRAFORM_CASES = {
    "an attribute without type": (
        'attribute {\n  name = "sk"\n}',
        'attribute[2]: has no type; add type = "S", "N" or "B"',
    ),
    "an attribute with a bad type": (
        'attribute {\n  name = "sk"\n  type = "STRING"\n}',
        "attribute[2].type: a string ('STRING') is not one of S, N, B; use one of them",
    ),
    "an attribute argument, not a block": (
        'attribute = "sk"',
        "attribute[0]: is a string ('sk'), not a block; write it as a block: attribute { ... }",
    ),
    "a GSI without name": (
        'global_secondary_index {\n  hash_key = "g"\n  projection_type = "ALL"\n}',
        "global_secondary_index[0]: has no name; add name",
    ),
    "a GSI without hash_key": (
        'global_secondary_index {\n  name = "by-g"\n  projection_type = "ALL"\n}',
        "global_secondary_index[0]: has no hash_key; add hash_key",
    ),
    "a GSI with a bad projection_type": (
        'global_secondary_index {\n  name = "by-g"\n  hash_key = "g"\n  projection_type = "SOME"\n}',
        "global_secondary_index[0].projection_type: a string ('SOME') is not one of ALL, KEYS_ONLY, INCLUDE",
    ),
    "a GSI whose non_key_attributes are a string": (
        'global_secondary_index {\n  name = "by-g"\n  hash_key = "g"\n  projection_type = "INCLUDE"\n'
        '  non_key_attributes = "total"\n}',
        "global_secondary_index[0].non_key_attributes: is a string ('total'), not a list",
    ),
    "a GSI whose capacity is not a number": (
        'global_secondary_index {\n  name = "by-g"\n  hash_key = "g"\n  read_capacity = "lots"\n}',
        "global_secondary_index[0].read_capacity: a string ('lots') is not a number of capacity units",
    ),
    "an LSI without name": (
        'local_secondary_index {\n  range_key = "g"\n  projection_type = "ALL"\n}',
        "local_secondary_index[0]: has no name; add name",
    ),
    "an LSI without range_key": (
        'local_secondary_index {\n  name = "by-pk-g"\n  projection_type = "ALL"\n}',
        "local_secondary_index[0]: has no range_key; add range_key",
    ),
    "a ttl enabled without attribute_name": (
        "ttl {\n  enabled = true\n}",
        "ttl: has no attribute_name; add attribute_name",
    ),
    "a ttl whose enabled is not a boolean": (
        'ttl {\n  attribute_name = "e"\n  enabled = "yes"\n}',
        "ttl.enabled: is a string ('yes'), not true or false; write true or false",
    ),
    "two ttl blocks": (
        'ttl {\n  attribute_name = "e"\n  enabled = true\n}\nttl {\n  attribute_name = "f"\n}',
        "ttl: has 2 blocks; a table has one; keep one ttl block",
    ),
    "tags that are a list": ('tags = ["a"]', 'tags: is a list, not a map; write tags = { KEY = "VALUE" }'),
    "a tag value that is a list": ('tags = {\n  team = ["a"]\n}', "tags.team: is a list, not a string"),
    "a bad stream_view_type": (
        'stream_enabled = true\nstream_view_type = "EVERYTHING"',
        "stream_view_type: a string ('EVERYTHING') is not one of KEYS_ONLY, NEW_IMAGE",
    ),
    "a stream_enabled that is not a boolean": (
        'stream_enabled = "on"',
        "stream_enabled: is a string ('on'), not true or false",
    ),
    "a bad table_class": (
        'table_class = "COLD"',
        "table_class: a string ('COLD') is not one of STANDARD, STANDARD_INFREQUENT_ACCESS",
    ),
    "a range_key that is a list": ('range_key = ["g"]', "range_key: is a list, not a string"),
}


@pytest.mark.parametrize(("extra", "message"), TERRAFORM_CASES.values(), ids=TERRAFORM_CASES)
def test_malformed_terraform_is_refused_naming_the_argument(tmp_path: Path, extra: str, message: str) -> None:
    error = _refused(tmp_path, "main.tf", TERRAFORM_TABLE.format(extra=extra))
    assert error.startswith(f"{tmp_path / 'main.tf'}: resource aws_dynamodb_table.orders, ")
    assert message in error


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            TERRAFORM_TABLE.format(extra="").replace("read_capacity  = 1", 'read_capacity  = "abc"'),
            "resource aws_dynamodb_table.orders, read_capacity: a string ('abc') is not a number of capacity",
        ),
        (
            TERRAFORM_TABLE.format(extra="").replace('hash_key       = "pk"', 'hash_key = ["pk"]'),
            "resource aws_dynamodb_table.orders, hash_key: is a list, not a string",
        ),
        (
            TERRAFORM_TABLE.format(extra='billing_mode = "ON_DEMAND"'),
            "billing_mode: a string ('ON_DEMAND') is not one of PROVISIONED, PAY_PER_REQUEST",
        ),
        (
            'resource "aws_dynamodb_table" {\n  name = "t"\n  hash_key = "pk"\n}\n',
            "resource aws_dynamodb_table.name, the resource: is a string ('t'), not a block; write resource "
            '"aws_dynamodb_table" "NAME" { ... }: a type and a name',
        ),
        ("resource = 3\n", "main.tf: resource is a number (3), not a block"),
        (
            "variable = 3\n" + TERRAFORM_TABLE.format(extra=""),
            "main.tf: variable is a number (3), not a block",
        ),
        (
            'locals = "x"\n' + TERRAFORM_TABLE.format(extra=""),
            "main.tf: locals is a string ('x'), not a block; write it as locals ... { }",
        ),
        (
            'variable "stage" {\n  default = "dev"\n}\n'
            + TERRAFORM_TABLE.format(extra="").replace('"orders"\n', '"${var.stage * 2}"\n', 1),
            "name: ${var.stage * 2} cannot be worked out without running Terraform",
        ),
        (
            TERRAFORM_TABLE.format(extra="").replace('"orders"\n', '"x-${local.prefix}"\n', 1),
            "name: local.prefix is not declared (the file declares no locals)",
        ),
    ],
)
def test_malformed_terraform_files(tmp_path: Path, text: str, message: str) -> None:
    assert message in _refused(tmp_path, "main.tf", text)


# -- nested properties with no local effect -----------------------------------------------------------


def test_nested_cloudformation_properties_with_no_local_effect_are_listed(tmp_path: Path) -> None:
    text = """
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: orders
      BillingMode: PAY_PER_REQUEST
      ProvisionedThroughput: {ReadCapacityUnits: 1, WriteCapacityUnits: 1}
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S, Comment: x}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      GlobalSecondaryIndexes:
        - IndexName: by-pk
          KeySchema: [{AttributeName: pk, KeyType: HASH}]
          Projection: {ProjectionType: ALL, Extra: 1}
          ProvisionedThroughput: {ReadCapacityUnits: 1, WriteCapacityUnits: 1}
      StreamSpecification:
        StreamViewType: NEW_IMAGE
        ResourcePolicy: {PolicyDocument: {}}
      TimeToLiveSpecification: {AttributeName: e, Enabled: true, Note: x}
      Tags: [{Key: a, Value: b, Propagate: true}]
"""
    (spec,) = load([_write(tmp_path, "t.yaml", text)], "us-east-1")
    assert spec.not_applied == (
        "ProvisionedThroughput (BillingMode is PAY_PER_REQUEST)",
        "AttributeDefinitions[0].Comment",
        "GlobalSecondaryIndexes[0].Projection.Extra",
        "GlobalSecondaryIndexes[0].ProvisionedThroughput (BillingMode is PAY_PER_REQUEST)",
        "StreamSpecification.ResourcePolicy",
        "TimeToLiveSpecification.Note",
        "Tags[0].Propagate",
    )
    assert "ProvisionedThroughput" not in spec.create
    assert "ProvisionedThroughput" not in spec.create["GlobalSecondaryIndexes"][0]
    assert spec.create["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}


def test_an_lsi_has_no_throughput_of_its_own(tmp_path: Path) -> None:
    template = _table(
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "by-pk-g",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "g", "KeyType": "RANGE"},
                ],
                "ProvisionedThroughput": {"ReadCapacityUnits": 9, "WriteCapacityUnits": 9},
            }
        ],
    )
    (spec,) = load([_write(tmp_path, "t.json", json.dumps(template))], "us-east-1")
    assert spec.not_applied == ("LocalSecondaryIndexes[0].ProvisionedThroughput",)
    assert "ProvisionedThroughput" not in spec.create["LocalSecondaryIndexes"][0]


def test_a_global_tables_other_replicas_and_index_write_settings_are_listed(tmp_path: Path) -> None:
    text = """
Resources:
  Sessions:
    Type: AWS::DynamoDB::GlobalTable
    Properties:
      TableName: sessions
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}, {AttributeName: g, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      WriteProvisionedThroughputSettings:
        WriteCapacityAutoScalingSettings:
          MinCapacity: 2
          MaxCapacity: 10
          TargetTrackingScalingPolicyConfiguration: {TargetValue: 70}
      GlobalSecondaryIndexes:
        - IndexName: by-g
          KeySchema: [{AttributeName: g, KeyType: HASH}]
          Projection: {ProjectionType: ALL}
          WriteProvisionedThroughputSettings:
            WriteCapacityAutoScalingSettings: {MinCapacity: 1, MaxCapacity: 5}
      Replicas:
        - Region: us-east-1
          ReadProvisionedThroughputSettings: {ReadCapacityUnits: 3}
        - Region: eu-west-1
          ReadProvisionedThroughputSettings: {ReadCapacityUnits: 7}
          TableClass: STANDARD_INFREQUENT_ACCESS
        - Region: ap-south-1
"""
    (spec,) = load([_write(tmp_path, "t.yaml", text)], "us-east-1")
    assert spec.create["ProvisionedThroughput"] == {"ReadCapacityUnits": 3, "WriteCapacityUnits": 2}
    assert (
        spec.create["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]
        == spec.create["ProvisionedThroughput"]
    )
    assert spec.not_applied == (
        "Replicas[1].ReadProvisionedThroughputSettings",
        "Replicas[1].TableClass",
        "WriteProvisionedThroughputSettings.WriteCapacityAutoScalingSettings.MaxCapacity",
        "WriteProvisionedThroughputSettings.WriteCapacityAutoScalingSettings.TargetTrackingScalingPolicyConfiguration",
        "GlobalSecondaryIndexes[0].WriteProvisionedThroughputSettings",
    )


def test_an_on_demand_global_tables_throughput_settings_are_listed(tmp_path: Path) -> None:
    template = _table(
        _GLOBAL,
        BillingMode="PAY_PER_REQUEST",
        ProvisionedThroughput=None,
        WriteProvisionedThroughputSettings=_WRITE_1,
        Replicas=[{"Region": "us-east-1", **_READ_1}],
    )
    (spec,) = load([_write(tmp_path, "t.json", json.dumps(template))], "us-east-1")
    assert spec.not_applied == (
        "Replicas[0].ReadProvisionedThroughputSettings (BillingMode is PAY_PER_REQUEST)",
        "WriteProvisionedThroughputSettings (BillingMode is PAY_PER_REQUEST)",
    )


def test_a_simple_tables_unknown_primary_key_settings_are_listed(tmp_path: Path) -> None:
    template = _table(_SIMPLE, PrimaryKey={"Name": "id", "Type": "Number", "Sort": "asc"})
    (spec,) = load([_write(tmp_path, "t.json", json.dumps(template))], "us-east-1")
    assert spec.not_applied == ("PrimaryKey.Sort",)
    assert spec.create["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "N"}]


def test_nested_terraform_arguments_with_no_local_effect_are_listed(tmp_path: Path) -> None:
    text = """
resource "aws_dynamodb_table" "orders" {
  name           = "orders"
  billing_mode   = "PAY_PER_REQUEST"
  read_capacity  = 5
  hash_key       = "pk"
  stream_view_type = "NEW_IMAGE"
  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name    = "g"
    type    = "S"
    comment = "x"
  }
  global_secondary_index {
    name            = "by-g"
    hash_key        = "g"
    projection_type = "ALL"
    write_capacity  = 2
    on_demand_throughput {
      max_read_request_units = 10
    }
  }
  local_secondary_index {
    name            = "by-pk-g"
    range_key       = "g"
    projection_type = "ALL"
    read_capacity   = 1
  }
  ttl {
    attribute_name = "expires"
    enabled        = true
    kms            = "x"
  }
}
"""
    (spec,) = load([_write(tmp_path, "main.tf", text)], "us-east-1")
    assert spec.ttl_attribute == "expires" and "StreamSpecification" not in spec.create
    assert spec.not_applied == (
        "read_capacity (billing_mode is PAY_PER_REQUEST)",
        "attribute[1].comment",
        "global_secondary_index[0].write_capacity (billing_mode is PAY_PER_REQUEST)",
        "global_secondary_index[0].on_demand_throughput",
        "local_secondary_index[0].read_capacity",
        "stream_view_type (stream_enabled is not true)",
        "ttl.kms",
    )


def test_a_terraform_gsi_keeps_its_own_capacity(tmp_path: Path) -> None:
    extra = 'global_secondary_index {\n  name = "by-g"\n  hash_key = "g"\n  write_capacity = 7\n}'
    (spec,) = load([_write(tmp_path, "main.tf", TERRAFORM_TABLE.format(extra=extra))], "us-east-1")
    (gsi,) = spec.create["GlobalSecondaryIndexes"]
    assert gsi["ProvisionedThroughput"] == {"ReadCapacityUnits": 1, "WriteCapacityUnits": 7}
    assert gsi["KeySchema"] == [{"AttributeName": "g", "KeyType": "HASH"}] and not spec.not_applied


# -- misspelt names -----------------------------------------------------------------------------------

_NAMED = """
Parameters:
  Stage: {{Type: String, Default: dev}}
  Names: {{Type: CommaDelimitedList, Default: "a, b"}}
Resources:
  Orders:
    Type: AWS::Serverless::SimpleTable
    Properties: {{TableName: {name}}}
"""


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            '!Sub "${Stag}-orders"',
            "Properties.TableName: Fn::Sub ${Stag} names a resource or an undeclared parameter "
            "(the declared parameters: Stage, Names)",
        ),
        (
            "!Ref Stag",
            "Ref Stag names a resource or an undeclared parameter (the declared parameters: Stage, ",
        ),
        ('!Sub "${AWS::StackName}-x"', "Fn::Sub ${AWS::StackName} has no value outside a deployed stack"),
        ('!Sub "${Names}-x"', "Fn::Sub ${Names} is not a string"),
    ],
)
def test_a_misspelt_parameter_lists_the_declared_ones(tmp_path: Path, name: str, message: str) -> None:
    assert message in _refused(tmp_path, "t.yaml", _NAMED.format(name=name))


def test_without_parameters_the_message_says_there_are_none(tmp_path: Path) -> None:
    text = (
        "Resources:\n  T:\n    Type: AWS::Serverless::SimpleTable\n    Properties: {TableName: !Ref Stage}\n"
    )
    assert "Ref Stage names a resource or an undeclared parameter (the template declares no Parameters)" in (
        _refused(tmp_path, "t.yaml", text)
    )


def test_a_list_parameter_is_a_list(tmp_path: Path) -> None:
    (spec,) = load([_write(tmp_path, "t.yaml", _NAMED.format(name="!Select [1, !Ref Names]"))], "us-east-1")
    assert spec.name == "b"


def test_a_misspelt_terraform_variable_lists_the_declared_ones(tmp_path: Path) -> None:
    text = 'variable "stage" {\n  default = "dev"\n}\n' + TERRAFORM_TABLE.format(extra="").replace(
        '"orders"\n', '"${var.stge}-orders"\n', 1
    )
    assert "name: var.stge is not declared (the declared variables: stage)" in _refused(
        tmp_path, "main.tf", text
    )


# -- no shape of value is a Python error --------------------------------------------------------------

_RICH_CFN: dict[str, Any] = {
    "Parameters": {"Stage": {"Type": "String", "Default": "dev"}},
    "Resources": {
        "Orders": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": {"Fn::Join": ["-", [{"Ref": "Stage"}, {"Fn::Select": [0, ["orders"]]}]]},
                "BillingMode": "PROVISIONED",
                "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": "1"},
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "g", "AttributeType": "N"},
                ],
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "g", "KeyType": "RANGE"},
                ],
                "GlobalSecondaryIndexes": _gsi(
                    Projection={"ProjectionType": "INCLUDE", "NonKeyAttributes": ["t"]},
                    ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
                ),
                "LocalSecondaryIndexes": [
                    {
                        "IndexName": "l",
                        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "KEYS_ONLY"},
                    }
                ],
                "StreamSpecification": {"StreamViewType": "NEW_IMAGE"},
                "TimeToLiveSpecification": {"AttributeName": "e", "Enabled": "true"},
                "Tags": [{"Key": "a", "Value": {"Fn::Sub": "${Stage}-x"}}],
                "TableClass": "STANDARD",
            },
        },
        "Global": {
            "Type": "AWS::DynamoDB::GlobalTable",
            "Properties": {
                "TableName": "global",
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "WriteProvisionedThroughputSettings": {
                    "WriteCapacityAutoScalingSettings": {"MinCapacity": 1}
                },
                "Replicas": [
                    {"Region": "us-east-1", "ReadProvisionedThroughputSettings": {"ReadCapacityUnits": 1}},
                    {"Region": "eu-west-1"},
                ],
            },
        },
        "Simple": {
            "Type": "AWS::Serverless::SimpleTable",
            "Properties": {
                "TableName": "simple",
                "PrimaryKey": {"Name": "id", "Type": "Number"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
                "Tags": {"a": "b"},
            },
        },
    },
}

_RICH_TF = """
variable "stage" {
  default = "dev"
}
locals {
  prefix = "${var.stage}-"
}
resource "aws_dynamodb_table" "orders" {
  name           = "${local.prefix}orders"
  read_capacity  = 1
  write_capacity = var.write
  hash_key       = "pk"
  range_key      = "sk"
  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }
  global_secondary_index {
    name               = "by-sk"
    hash_key           = "sk"
    projection_type    = "INCLUDE"
    non_key_attributes = ["total"]
  }
  local_secondary_index {
    name            = "by-pk-sk"
    range_key       = "sk"
    projection_type = "KEYS_ONLY"
  }
  ttl {
    attribute_name = "expires"
    enabled        = true
  }
  stream_enabled   = true
  stream_view_type = "NEW_IMAGE"
  tags = {
    team = "a"
  }
  table_class = "STANDARD"
}
variable "write" {
  default = 2
}
"""

# Fresh objects every draw (st.builds, not st.just): a later mutation must not change what is drawn.
_ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "x", "HASH", "ALL", "true", "${var.stage}", "${nope}", "7", "S"]),
    st.lists(st.sampled_from(["x", 1]), max_size=2),
    st.dictionaries(
        st.sampled_from(["Ref", "Fn::Select", "Fn::Join", "Fn::Sub", "x"]),
        st.builds(lambda: ["x"]),
        max_size=2,
    ),
    st.builds(lambda: {"Ref": "AWS::NoValue"}),
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*path, i))
    return found


def _mutate(tree: Any, data: st.DataObject) -> Any:
    """``tree`` with one to three of its values replaced by an odd one, or removed."""
    tree = copy.deepcopy(tree)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(tree)[1:]))
        parent = tree
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(_ODD_VALUES)
        if not _paths(tree)[1:]:
            break
    return tree


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_cloudformation_template_is_a_python_error(data: st.DataObject) -> None:
    template = _mutate(_RICH_CFN, data)
    try:
        tables_in(template, "t.yaml", "us-east-1")
    except TableError as exc:
        assert str(exc).startswith("t.yaml: ")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_terraform_file_is_a_python_error(data: st.DataObject) -> None:
    parsed = _mutate(load_terraform(_RICH_TF, "main.tf"), data)
    try:
        tables_in_terraform(parsed, "main.tf")
    except TableError as exc:
        assert str(exc).startswith("main.tf: ")


def test_the_rich_templates_are_valid() -> None:
    """The fuzzed templates are valid as written, so the mutations are what the tests above exercise."""
    assert [s.name for s in tables_in(copy.deepcopy(_RICH_CFN), "t.yaml", "us-east-1")] == [
        "dev-orders",
        "global",
        "simple",
    ]
    (spec,) = tables_in_terraform(load_terraform(_RICH_TF, "main.tf"), "main.tf")
    assert spec.name == "dev-orders" and not spec.not_applied


# -- end to end ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "tables.yaml",
            "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n"
            "      ProvisionedThroughput: {ReadCapacityUnits: 1}\n"
            "      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]\n"
            "      KeySchema: [{AttributeName: pk, KeyType: HASH}]\n",
            "*--dynamodb-tables (from --dynamodb-tables): tables.yaml: resource T, "
            "Properties.ProvisionedThroughput: has no WriteCapacityUnits; add WriteCapacityUnits*",
        ),
        (
            "main.tf",
            TERRAFORM_TABLE.format(extra='attribute {\n  name = "sk"\n}'),
            "*main.tf: resource aws_dynamodb_table.orders, attribute[[]2]: has no type; add type = *",
        ),
    ],
)
def test_a_malformed_file_is_a_usage_error_not_an_internal_error(
    pytester: pytest.Pytester, name: str, text: str, message: str
) -> None:
    (pytester.path / name).write_text(text)
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--dynamodb-tables", name)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    result.stderr.fnmatch_lines([message])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_nested_properties_not_applied_are_in_the_runs_warning(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        tables="Resources:\n  Orders:\n    Type: AWS::DynamoDB::Table\n    Properties:\n"
        "      TableName: orders\n      BillingMode: PAY_PER_REQUEST\n"
        "      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]\n"
        "      KeySchema: [{AttributeName: pk, KeyType: HASH}]\n"
        "      StreamSpecification: {StreamViewType: NEW_IMAGE, ResourcePolicy: {PolicyDocument: {}}}\n",
    )
    pytester.makepyfile(test_x="def test_x(dynamodb):\n    dynamodb.describe_table(TableName='orders')\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--dynamodb-tables", "tables.yaml")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*properties not applied to the local tables: orders (resource Orders in tables.yaml): "
            "StreamSpecification.ResourcePolicy"
        ]
    )
