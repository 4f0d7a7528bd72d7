"""deploy/template.yaml: clean under cfn-lint, least privilege, and consistent with what ``dualmode package``
builds (handler, runtimes, architectures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_dualmode.cli.package import HANDLER, wheels

cfnlint_api = pytest.importorskip("cfnlint.api", reason="cfn-lint is in the dev extra")
from cfnlint.decode import decode  # noqa: E402

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "template.yaml"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    data, problems = decode(str(TEMPLATE))
    assert not problems and data is not None
    return dict(data)


def test_cfn_lint_finds_nothing_in_the_template() -> None:
    assert [str(m) for m in cfnlint_api.lint_file(TEMPLATE)] == []


def test_cfn_lint_does_catch_a_broken_copy(tmp_path: Path) -> None:
    broken = tmp_path / "template.yaml"
    broken.write_text(TEMPLATE.read_text().replace("Runtime: !Ref Runtime", "Runtime: python2.7"))
    assert any("python2.7" in str(m) for m in cfnlint_api.lint_file(broken))


def test_the_function_matches_what_dualmode_package_builds(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    function = template["Resources"]["RunnerFunction"]["Properties"]
    assert function["Handler"] == HANDLER
    assert params["Runtime"]["AllowedValues"] == [f"python{v}" for v in wheels.PYTHONS]
    assert params["Architecture"]["AllowedValues"] == list(wheels.ARCHS)
    assert params["TimeoutSeconds"]["MaxValue"] == 900
    assert params["SubnetIds"]["Type"] == "List<AWS::EC2::Subnet::Id>"
    assert params["SecurityGroupIds"]["Type"] == "List<AWS::EC2::SecurityGroup::Id>"
    assert function["VpcConfig"] == {
        "SubnetIds": {"Ref": "SubnetIds"},
        "SecurityGroupIds": {"Ref": "SecurityGroupIds"},
    }
    assert function["EventInvokeConfig"] == {"MaximumRetryAttempts": 0}
    variables = function["Environment"]["Variables"]
    assert variables["DUALMODE_SIGV4_SERVICE"] == {"Ref": "SigV4Service"}
    assert variables["DUALMODE_ADDR"] == {
        "Fn::If": ["HasAddr", {"Ref": "TargetAddr"}, {"Ref": "AWS::NoValue"}]
    }
    assert template["Outputs"]["FunctionName"]["Value"] == {"Ref": "RunnerFunction"}


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return list(policy["PolicyDocument"]["Statement"])


def test_the_role_grants_only_what_the_runner_needs(template: dict[str, Any]) -> None:
    policies = template["Resources"]["RunnerRole"]["Properties"]["Policies"]
    named = {p["PolicyName"]: p for p in policies if "PolicyName" in p}
    assert set(named) == {"logs", "vpc-networking", "invoke-target"}
    (logs,) = _statements(named["logs"])
    assert logs["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert logs["Resource"] == {"Fn::Sub": "${LogGroup.Arn}:*"}
    (invoke,) = _statements(named["invoke-target"])
    assert invoke["Action"] == {"Fn::If": ["IsLattice", "vpc-lattice-svcs:Invoke", "execute-api:Invoke"]}
    assert invoke["Resource"] == {"Ref": "TargetArn"}
    (network,) = _statements(named["vpc-networking"])
    assert all(a.startswith("ec2:") and "*" not in a for a in network["Action"])
    # S3 only when a results bucket is configured, and only PutObject under its prefix
    (conditional,) = [p for p in policies if "Fn::If" in p]
    condition, s3_policy, otherwise = conditional["Fn::If"]
    assert condition == "HasResultsBucket" and otherwise == {"Ref": "AWS::NoValue"}
    (put,) = _statements(s3_policy)
    assert put["Action"] == "s3:PutObject"
    assert put["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::${ResultsBucket}/${ResultsPrefix}*"}
    for policy in [*named.values(), s3_policy]:
        for statement in _statements(policy):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert "*" not in actions and not any(str(a).endswith(":*") for a in actions)
