"""The one set of fake AWS credentials of local mode: forced into the environment of a local run, and
used by the embedded DynamoDB's clients. Nothing real is ever signed with them."""

from __future__ import annotations

FAKE_REGION = "us-east-1"
FAKE_KEY_ID = "AKIDLOCALDUALMODE000"
FAKE_SECRET = "dualmode-local-fake-secret"  # noqa: S105 - a fixed fake for local-only servers
