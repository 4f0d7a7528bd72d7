"""build_signer(): botocore's credential chain and region rules, and errors that say what to do."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from sigv4_support import ALL_SECRETS, SECRET, SESSION_TOKEN

from pytest_dualmode.sigv4.credentials import CredentialsError, build_signer

AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
)  # fmt: skip


@pytest.fixture
def aws_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty AWS world: no variables, config files in ``tmp_path``, no instance metadata."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


def credential_of(signer: Any) -> str:
    return signer.sign("GET", "https://svc.example/")["Authorization"].split("Credential=")[1].split(",")[0]


def test_environment_credentials(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    monkeypatch.setenv("AWS_REGION", "eu-west-2")
    signer = build_signer(region=None, service="vpc-lattice-svcs", profile=None)
    assert credential_of(signer).startswith("AKIDFROMENV/") and credential_of(signer).endswith(
        "/eu-west-2/vpc-lattice-svcs/aws4_request"
    )
    assert signer.sign("GET", "https://svc.example/")["X-Amz-Security-Token"] == SESSION_TOKEN
    assert not signer.sign_payload
    assert build_signer(region="us-west-2", service="execute-api", profile=None).sign_payload


@pytest.mark.parametrize(
    ("explicit", "env", "expected"),
    [
        ("ap-south-1", {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-2"}, "ap-south-1"),
        (None, {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-2"}, "eu-west-1"),
        (None, {"AWS_DEFAULT_REGION": "eu-west-2"}, "eu-west-2"),
        (None, {}, "ca-central-1"),  # the profile's region
    ],
)
def test_region_fallbacks(
    aws_home: Path, monkeypatch: pytest.MonkeyPatch, explicit: str | None, env: dict[str, str], expected: str
) -> None:
    (aws_home / "credentials").write_text(
        f"[team]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = {SECRET}\n"
    )
    (aws_home / "config").write_text("[profile team]\nregion = ca-central-1\n")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    signer = build_signer(region=explicit, service="vpc-lattice-svcs", profile="team")
    assert signer.region == expected
    assert credential_of(signer).startswith("AKIDPROFILE/")


def test_aws_profile_variable_picks_the_profile(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (aws_home / "credentials").write_text(
        f"[ci]\naws_access_key_id = AKIDCI\naws_secret_access_key = {SECRET}\n"
    )
    monkeypatch.setenv("AWS_PROFILE", "ci")
    signer = build_signer(region="us-east-1", service="vpc-lattice-svcs", profile=None)
    assert credential_of(signer).startswith("AKIDCI/")


def test_refreshing_credentials_from_the_chain_are_re_read(aws_home: Path) -> None:
    # A credential_process that hands out a new key on every call, expiring within botocore's
    # mandatory refresh window, so every request must fetch it again.
    counter = aws_home / "count"
    script = aws_home / "issue.py"
    script.write_text(
        "import json, pathlib, datetime\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) + 1 if p.exists() else 1\n"
        "p.write_text(str(n))\n"
        "exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)\n"
        "print(json.dumps({'Version': 1, 'AccessKeyId': f'ASIAROTATE{n}', 'SecretAccessKey': 'rotating',"
        " 'SessionToken': f'token{n}', 'Expiration': exp.isoformat()}))\n"
    )
    (aws_home / "config").write_text(
        f"[profile rotating]\nregion = us-east-1\ncredential_process = {sys.executable} {script}\n"
    )
    signer = build_signer(region=None, service="vpc-lattice-svcs", profile="rotating")
    first, second = credential_of(signer), credential_of(signer)
    assert first.startswith("ASIAROTATE") and second.startswith("ASIAROTATE") and first != second


def assert_clear(error: CredentialsError, *needles: str) -> None:
    text = str(error)
    for needle in needles:
        assert needle in text, (needle, text)
    for secret in ALL_SECRETS:
        assert secret not in text


def test_no_credentials_says_what_was_tried_and_how_to_fix_it(aws_home: Path) -> None:
    with pytest.raises(CredentialsError) as info:
        build_signer(region="us-east-1", service="vpc-lattice-svcs", profile=None)
    assert_clear(
        info.value,
        "no AWS credentials were found for the default profile",
        "environment variables AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY",
        "shared credentials file",
        "SSO profile",
        "container role",
        "EC2 instance role",
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        "--aws-profile",
        "--no-sigv4",
    )


def test_a_missing_profile_is_named(aws_home: Path) -> None:
    with pytest.raises(CredentialsError) as info:
        build_signer(region="us-east-1", service="vpc-lattice-svcs", profile="nope")
    assert_clear(info.value, "profile 'nope' does not exist", "--aws-profile")


def test_partial_credentials_never_echo_the_secret(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    with pytest.raises(CredentialsError) as info:
        build_signer(region="us-east-1", service="vpc-lattice-svcs", profile=None)
    assert_clear(info.value, "no AWS credentials were found", "--no-sigv4")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDPARTIAL")
    with pytest.raises(CredentialsError) as info:
        build_signer(region="us-east-1", service="vpc-lattice-svcs", profile=None)
    assert_clear(info.value, "could not be loaded", "missing: AWS_SECRET_ACCESS_KEY", "--no-sigv4")


def test_no_region_is_a_clear_error(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    with pytest.raises(CredentialsError) as info:
        build_signer(region=None, service="vpc-lattice-svcs", profile=None)
    assert_clear(info.value, "no AWS region", "AWS_REGION", "--aws-region us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "US East")
    with pytest.raises(CredentialsError) as info:
        build_signer(region=None, service="vpc-lattice-svcs", profile=None)
    assert_clear(info.value, "'US East' (from AWS_DEFAULT_REGION) is not a region name")


def test_a_bad_service_name_is_a_clear_error(aws_home: Path) -> None:
    with pytest.raises(CredentialsError) as info:
        build_signer(region="us-east-1", service="VPC Lattice", profile=None)
    assert_clear(info.value, "'VPC Lattice' is not valid", "--sigv4-service vpc-lattice-svcs")


def test_the_error_is_an_exception_the_plugin_can_catch() -> None:
    assert issubclass(CredentialsError, Exception)
    assert json.dumps(str(CredentialsError("x")))
