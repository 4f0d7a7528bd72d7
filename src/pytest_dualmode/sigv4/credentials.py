"""Build a :class:`~pytest_dualmode.sigv4.signer.Signer` from botocore's credential chain and region rules.

The chain is botocore's own (environment, profile, SSO, assume-role, web identity, credential
process, container role, instance role), so what works for the AWS CLI works here. Failures
become :class:`CredentialsError`, whose message says what was tried and how to fix it, and
never contains a secret.
"""

from __future__ import annotations

import os
import re
from typing import Any

from pytest_dualmode.sigv4.signer import Signer, preset_signs_payload

# What each botocore provider is, in words a user can act on.
_SOURCES = {
    "env": "environment variables AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY",
    "assume-role": "assume-role profile (role_arn)",
    "assume-role-with-web-identity": "web identity token (AWS_WEB_IDENTITY_TOKEN_FILE)",
    "sso": "SSO profile (aws sso login)",
    "shared-credentials-file": "shared credentials file (AWS_SHARED_CREDENTIALS_FILE, ~/.aws/credentials)",
    "login": "aws login session",
    "custom-process": "credential_process",
    "config-file": "config file (AWS_CONFIG_FILE, ~/.aws/config)",
    "ec2-credentials-file": "EC2 credentials file",
    "boto-config": "boto config file",
    "container-role": "container role (ECS / EKS / Lambda)",
    "iam-role": "EC2 instance role (instance metadata)",
}
_NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")

_FIX = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys), "
    "pass --aws-profile NAME (run `aws sso login --profile NAME` first for SSO), "
    "or turn signing off with --no-sigv4"
)


class CredentialsError(Exception):
    """No usable AWS credentials or region; the message says what was tried and how to fix it."""


def build_signer(*, region: str | None, service: str, profile: str | None) -> Signer:
    """A signer for ``service`` using botocore's credential chain (``profile`` if given).

    The region is ``region`` if given, else ``AWS_REGION``, ``AWS_DEFAULT_REGION``, then the
    profile's configured region. The payload is signed for services that need it
    (``execute-api``) and sent as ``UNSIGNED-PAYLOAD`` for VPC Lattice. Credentials are resolved
    now (so a missing key fails before any test) and re-read for every request.
    """
    import botocore.exceptions
    import botocore.session

    if not _NAME.fullmatch(service or ""):
        raise CredentialsError(
            f"SigV4 service name {service!r} is not valid; "
            "use e.g. --sigv4-service vpc-lattice-svcs or execute-api"
        )
    profile_name = profile or os.environ.get("AWS_PROFILE") or None
    where = f"profile {profile_name!r}" if profile_name else "the default profile"
    session = botocore.session.Session(profile=profile or None)
    try:
        credentials = session.get_credentials()
        frozen = credentials.get_frozen_credentials() if credentials is not None else None
        resolved_region = _region(session, region)
    except botocore.exceptions.ProfileNotFound:
        raise CredentialsError(
            f"the AWS {where} does not exist in the AWS config files; "
            "pass an existing --aws-profile (see `aws configure list-profiles`) or set AWS_ACCESS_KEY_ID "
            "and AWS_SECRET_ACCESS_KEY"
        ) from None
    except botocore.exceptions.BotoCoreError as exc:
        # botocore's messages name the source and problem, not the secret values.
        raise CredentialsError(f"AWS credentials for {where} could not be loaded ({exc}); {_FIX}") from None
    if frozen is None or not frozen.access_key or not frozen.secret_key:
        tried = "; ".join(_tried(session))
        raise CredentialsError(f"no AWS credentials were found for {where} (tried: {tried}); {_FIX}")
    return Signer(credentials, resolved_region, service, sign_payload=preset_signs_payload(service))


def _tried(session: Any) -> list[str]:
    try:
        providers = session.get_component("credential_provider").providers
    except Exception:  # the list is a courtesy; never let it hide the real error
        return ["botocore's default credential chain"]
    return [_SOURCES.get(p.METHOD, p.METHOD) for p in providers]


def _region(session: Any, explicit: str | None) -> str:
    candidates = [
        ("--aws-region", explicit),
        ("AWS_REGION", os.environ.get("AWS_REGION")),
        ("AWS_DEFAULT_REGION", os.environ.get("AWS_DEFAULT_REGION")),
        ("the profile's region setting", session.get_scoped_config().get("region")),
    ]
    for source, value in candidates:
        if value:
            if not _NAME.fullmatch(value):
                raise CredentialsError(
                    f"AWS region {value!r} (from {source}) is not a region name; "
                    "use e.g. --aws-region us-east-1"
                )
            return str(value)
    raise CredentialsError(
        "no AWS region to sign for (tried --aws-region, AWS_REGION, AWS_DEFAULT_REGION and the profile's "
        "region); pass --aws-region us-east-1 or set AWS_REGION"
    )
