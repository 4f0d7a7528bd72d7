"""Tables from CloudFormation/SAM templates and Terraform files: what is applied, resolved or refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_dualmode.tables import TableError, load

ORDERS_YAML = """
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Stage: {Type: String, Default: dev}
  Read: {Type: Number, Default: 3}
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${Stage}-orders-${AWS::Region}"
      BillingMode: PROVISIONED
      ProvisionedThroughput: {ReadCapacityUnits: !Ref Read, WriteCapacityUnits: "2"}
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: N}
        - {AttributeName: g, AttributeType: S}
      KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: sk, KeyType: RANGE}]
      GlobalSecondaryIndexes:
        - IndexName: by-g
          KeySchema: [{AttributeName: g, KeyType: HASH}]
          Projection: {ProjectionType: INCLUDE, NonKeyAttributes: [total]}
          ProvisionedThroughput: {ReadCapacityUnits: 1, WriteCapacityUnits: 1}
          ContributorInsightsSpecification: {Enabled: true}
      LocalSecondaryIndexes:
        - IndexName: by-pk-g
          KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: g, KeyType: RANGE}]
          Projection: {ProjectionType: KEYS_ONLY}
      TimeToLiveSpecification: {AttributeName: expires, Enabled: true}
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
      PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}
      Tags: [{Key: team, Value: !Join ["-", [a, !Ref Stage]]}]
  Queue:
    Type: AWS::SQS::Queue
"""


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_a_cloudformation_table_with_everything_it_can_declare(tmp_path: Path) -> None:
    (spec,) = load([_write(tmp_path, "t.yaml", ORDERS_YAML)], "eu-west-1")
    assert spec.name == "dev-orders-eu-west-1" and spec.resource == "Orders"
    create = spec.create
    assert create["ProvisionedThroughput"] == {"ReadCapacityUnits": 3, "WriteCapacityUnits": 2}
    assert create["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    (gsi,) = create["GlobalSecondaryIndexes"]
    assert gsi["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["total"]}
    assert gsi["ProvisionedThroughput"] == {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}
    (lsi,) = create["LocalSecondaryIndexes"]
    assert lsi["IndexName"] == "by-pk-g" and "ProvisionedThroughput" not in lsi
    assert create["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert create["Tags"] == [{"Key": "team", "Value": "a-dev"}]
    assert spec.ttl_attribute == "expires"
    assert spec.not_applied == (
        "PointInTimeRecoverySpecification",
        "GlobalSecondaryIndexes[0].ContributorInsightsSpecification",
    )


def test_json_templates_read_the_same(tmp_path: Path) -> None:
    import yaml

    from pytest_dualmode.tables.cloudformation import load_template

    as_dict = load_template(ORDERS_YAML, "t.yaml")
    assert as_dict["Resources"]["Orders"]["Properties"]["TableName"] == {
        "Fn::Sub": "${Stage}-orders-${AWS::Region}"
    }
    (spec,) = load([_write(tmp_path, "t.json", json.dumps(as_dict))], "eu-west-1")
    assert spec.name == "dev-orders-eu-west-1"
    assert yaml.safe_load("a: 1") == {"a": 1}  # the tags are only on our loader, not PyYAML's own


def test_global_and_sam_simple_tables(tmp_path: Path) -> None:
    text = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Sessions:
    Type: AWS::DynamoDB::GlobalTable
    Properties:
      TableName: sessions
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      Replicas:
        - Region: us-east-1
          PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}
        - Region: eu-west-1
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: true}
  Counters:
    Type: AWS::Serverless::SimpleTable
    Properties:
      PrimaryKey: {Name: counter, Type: Number}
      ProvisionedThroughput: {ReadCapacityUnits: 5, WriteCapacityUnits: 5}
      SSESpecification: {SSEEnabled: true}
"""
    sessions, counters = load([_write(tmp_path, "sam.yaml", text)], "us-east-1")
    assert sessions.create["BillingMode"] == "PAY_PER_REQUEST" and sessions.ttl_attribute == "ttl"
    assert sessions.not_applied == ("Replicas[0].PointInTimeRecoverySpecification",)
    assert counters.name == "Counters" and counters.notes  # no TableName: the logical id, said in the header
    assert counters.create["AttributeDefinitions"] == [{"AttributeName": "counter", "AttributeType": "N"}]
    assert counters.create["BillingMode"] == "PROVISIONED"
    assert counters.not_applied == ("SSESpecification",)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("!Ref AWS::StackName", "AWS::StackName has no value outside a deployed stack"),
        ("!Ref NoDefault", "Ref NoDefault: the parameter has no Default"),
        ("!Ref Other", "Ref Other names a resource or an undeclared parameter"),
        ("!GetAtt Other.Arn", "Fn::GetAtt cannot be worked out without deploying the stack"),
        ('!Sub "${Other.Arn}-x"', "needs a deployed resource's attribute"),
        ("!ImportValue shared-name", "Fn::ImportValue cannot be worked out"),
    ],
)
def test_names_that_need_a_deployed_stack_are_refused_naming_the_resource(
    tmp_path: Path, name: str, message: str
) -> None:
    text = f"""
Parameters:
  NoDefault: {{Type: String}}
Resources:
  Other: {{Type: AWS::SNS::Topic}}
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: {name}
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{{AttributeName: pk, AttributeType: S}}]
      KeySchema: [{{AttributeName: pk, KeyType: HASH}}]
"""
    with pytest.raises(TableError) as info:
        load([_write(tmp_path, "t.yaml", text)], "us-east-1")
    assert "resource Orders, Properties.TableName" in str(info.value) and message in str(info.value)
    assert "t.yaml" in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Resources: {}\n", "declares no DynamoDB tables"),
        ("Description: no resources\n", "has no Resources section"),
        ("Resources: [unclosed\n", "not valid YAML"),
        ('{"Resources": ', "not valid JSON"),
        (
            "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties: {TableName: t}\n",
            "PROVISIONED (the default) needs ProvisionedThroughput",
        ),
    ],
)
def test_bad_templates_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(TableError, match=r"t\.yaml") as info:
        load([_write(tmp_path, "t.yaml", text)], "us-east-1")
    assert message in str(info.value)


def test_a_table_declared_twice_is_refused(tmp_path: Path) -> None:
    text = "Resources:\n  S:\n    Type: AWS::Serverless::SimpleTable\n    Properties: {TableName: same}\n"
    paths = [_write(tmp_path, "a.yaml", text), _write(tmp_path, "b.yaml", text)]
    with pytest.raises(TableError, match="'same' is declared twice"):
        load(paths, "us-east-1")


TERRAFORM = """
variable "stage" {
  default = "dev"
}
locals {
  prefix = "${var.stage}-"
}
resource "aws_dynamodb_table" "orders" {
  name           = "${local.prefix}orders"
  billing_mode   = "PROVISIONED"
  read_capacity  = 4
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
  attribute {
    name = "g"
    type = "S"
  }
  global_secondary_index {
    name               = "by-g"
    hash_key           = "g"
    projection_type    = "INCLUDE"
    non_key_attributes = ["total"]
  }
  local_secondary_index {
    name            = "by-pk-g"
    range_key       = "g"
    projection_type = "KEYS_ONLY"
  }
  ttl {
    attribute_name = "expires"
    enabled        = true
  }
  stream_enabled   = true
  stream_view_type = "NEW_IMAGE"
  point_in_time_recovery {
    enabled = true
  }
  tags = {
    team = "a"
  }
}
variable "write" {
  default = 2
}
"""


def test_a_terraform_table(tmp_path: Path) -> None:
    (spec,) = load([_write(tmp_path, "main.tf", TERRAFORM)], "us-east-1")
    assert spec.name == "dev-orders" and spec.resource == "aws_dynamodb_table.orders"
    create = spec.create
    assert create["ProvisionedThroughput"] == {"ReadCapacityUnits": 4, "WriteCapacityUnits": 2}
    assert create["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    (gsi,) = create["GlobalSecondaryIndexes"]
    assert gsi == {
        "IndexName": "by-g",
        "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["total"]},
        "ProvisionedThroughput": {"ReadCapacityUnits": 4, "WriteCapacityUnits": 2},
    }
    (lsi,) = create["LocalSecondaryIndexes"]
    assert lsi["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "g", "KeyType": "RANGE"},
    ]
    assert create["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert create["Tags"] == [{"Key": "team", "Value": "a"}]
    assert spec.ttl_attribute == "expires"
    assert spec.not_applied == ("point_in_time_recovery",)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ('"${var.missing}"', "var.missing is not declared"),
        ('"${var.nodefault}"', "var.nodefault has no default"),
        ("data.aws_region.current.name", "cannot be worked out without running Terraform"),
    ],
)
def test_terraform_names_that_need_terraform_are_refused(tmp_path: Path, name: str, message: str) -> None:
    text = f"""
variable "nodefault" {{}}
resource "aws_dynamodb_table" "t" {{
  name         = {name}
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  attribute {{
    name = "pk"
    type = "S"
  }}
}}
"""
    with pytest.raises(TableError) as info:
        load([_write(tmp_path, "main.tf", text)], "us-east-1")
    assert "resource aws_dynamodb_table.t" in str(info.value) and message in str(info.value)


def test_bad_hcl_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TableError, match=r"main\.tf: not valid HCL"):
        load([_write(tmp_path, "main.tf", 'resource "x" {')], "us-east-1")


def test_the_example_services_template_passes_cfn_lint() -> None:
    from cfnlint.api import lint_all

    template = Path(__file__).resolve().parents[2] / "src" / "example_service" / "tables.yaml"
    assert [str(m) for m in lint_all(template.read_text())] == []
    (spec,) = load([str(template)], "us-east-1")
    assert spec.name == "suppressions" and not spec.not_applied
