"""The full result to S3 when ``DUALMODE_RESULTS_S3=s3://bucket/prefix`` is set (boto3 imported only then)."""

from __future__ import annotations

import re
import uuid
from typing import Any

ENV = "DUALMODE_RESULTS_S3"
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")


def parse_s3_url(value: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` to ``(bucket, prefix)``; ValueError with the fix for anything else."""
    raw = value.strip()
    if not raw.startswith("s3://"):
        raise ValueError(f"{ENV}={value!r} is not an s3:// URL; use e.g. {ENV}=s3://my-bucket/system-tests")
    bucket, _, prefix = raw[len("s3://") :].partition("/")
    if not _BUCKET.match(bucket):
        raise ValueError(
            f"{ENV}={value!r} has no valid bucket name; use e.g. {ENV}=s3://my-bucket/system-tests"
        )
    return bucket, prefix.strip("/")


def object_key(prefix: str, request_id: str | None) -> str:
    """``prefix/<request id>.json`` (a random id when there is no context)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", request_id or "") or uuid.uuid4().hex
    return f"{prefix}/{name}.json" if prefix else f"{name}.json"


def upload(url: str, request_id: str | None, body: bytes, timeout_s: float) -> str:
    """Put ``body`` (the result JSON) at ``object_key`` under ``url``; return its ``s3://`` address."""
    import boto3
    from botocore.config import Config

    bucket, prefix = parse_s3_url(url)
    key = object_key(prefix, request_id)
    timeout = max(1.0, min(timeout_s, 30.0))
    config = Config(
        connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 3, "mode": "standard"}
    )
    client: Any = boto3.client("s3", config=config)
    client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return f"s3://{bucket}/{key}"
