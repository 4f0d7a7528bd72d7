"""Fixtures for the example service's own tests: moto's DynamoDB server and a service on it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

FAKE_CREDENTIALS = {
    "aws_access_key_id": "AKIDEXAMPLETESTS0000",
    "aws_secret_access_key": "example-tests-fake",
}


@pytest.fixture(scope="session")
def moto_endpoint(start_moto: Any) -> Iterator[str]:
    """URL of moto's DynamoDB server on 127.0.0.1 (an ephemeral port), for this session."""
    with start_moto() as url:
        yield url


def make_client(endpoint: str, **config: Any) -> Any:
    """A boto3 DynamoDB client for ``endpoint`` with fake credentials."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(**config) if config else None,
        **FAKE_CREDENTIALS,
    )


@pytest.fixture(scope="session")
def client_factory() -> Any:
    """:func:`make_client`, for tests that need a client with their own endpoint or settings."""
    return make_client


@pytest.fixture(scope="session")
def dynamodb_client(moto_endpoint: str) -> Any:
    """A boto3 DynamoDB client for :func:`moto_endpoint`."""
    return make_client(moto_endpoint)


@pytest.fixture(scope="session")
def service(dynamodb_client: Any) -> Any:
    """A :class:`SuppressionService` on moto (its table created on first use)."""
    from example_service import SuppressionService

    return SuppressionService(dynamodb_client, table="example-service-tests")


@pytest.fixture
def account() -> str:
    """A fresh account id, so that tests never see each other's data."""
    return f"acct-{uuid.uuid4()}"
