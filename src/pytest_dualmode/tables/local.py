"""Create the declared tables in the local DynamoDB, and empty or recreate them between tests.

Emptying keeps each table (its stream, its settings) and drops its items: against the embedded
DynamoDB in moto's backend directly, without a request (hundreds of times faster than deleting and
recreating by hand); against any other DynamoDB-compatible server by scanning the keys and deleting
them in batches of 25, which costs about what recreating does at ten items a table and more beyond.
Recreating (delete, then create from the template) also resets the tables' settings.
``bench/bench_tables.py`` measures each against deleting and recreating by hand.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from pytest_dualmode.tables.model import TableError, TableSpec

_SETTLE_TIMEOUT = 60.0


def _code(exc: Exception) -> str:
    return str((getattr(exc, "response", None) or {}).get("Error", {}).get("Code", ""))


def _keys(description: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((k["AttributeName"], k["KeyType"]) for k in description.get("KeySchema", []))


def create_tables(client: Any, specs: Sequence[TableSpec], timeout: float = _SETTLE_TIMEOUT) -> None:
    """Create every table (waiting until each is ACTIVE) and switch on its TTL.

    A table that already exists (a persistent DynamoDB Local) is kept if its key schema is the
    declared one, else refused: tests against another key schema would not test what staging runs.
    """
    for spec in specs:
        try:
            client.create_table(**spec.create)
        except Exception as exc:
            if _code(exc) != "ResourceInUseException":
                raise TableError(f"creating table {spec.name!r} ({spec.where}) failed: {exc}") from exc
            existing = client.describe_table(TableName=spec.name)["Table"]
            if _keys(existing) != _keys(spec.create):
                raise TableError(
                    f"table {spec.name!r} ({spec.where}) already exists in the local DynamoDB with keys "
                    f"{_keys(existing)}, not {_keys(spec.create)}; delete it there"
                ) from None
    for spec in specs:
        _wait_active(client, spec, timeout)
        if spec.ttl_attribute:
            client.update_time_to_live(
                TableName=spec.name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
            )


def _wait_active(client: Any, spec: TableSpec, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        status = client.describe_table(TableName=spec.name)["Table"].get("TableStatus", "ACTIVE")
        if status == "ACTIVE":
            return
        if time.monotonic() + delay > deadline:
            raise TableError(f"table {spec.name!r} ({spec.where}) is still {status} after {timeout:g}s")
        time.sleep(delay)  # a bounded poll of the server's state, not synchronisation between threads
        delay = min(delay * 2, 0.5)


def _moto_tables(region: str, names: Iterable[str]) -> list[Any] | None:
    """moto's own table objects for ``names`` in ``region`` (every account), or None if moto's layout
    is not the one this module knows."""
    try:
        from moto.dynamodb.models import dynamodb_backends
    except ImportError:
        return None
    wanted = set(names)
    found = []
    try:
        for account in list(dynamodb_backends.keys()):
            backend = dynamodb_backends[account].get(region) if region in dynamodb_backends[account] else None
            if backend is None:
                continue
            found += [t for name, t in backend.tables.items() if name in wanted]
        if not all(hasattr(t, "items") and hasattr(t.items, "clear") for t in found):
            return None
    except Exception:
        return None
    return found


def empty_tables(client: Any, names: Sequence[str], *, embedded_region: str | None = None) -> None:
    """Delete every item of the tables ``names`` (their settings and indexes stay).

    ``embedded_region``: the region of the embedded (moto) DynamoDB, whose items are dropped directly.
    """
    if embedded_region is not None:
        tables = _moto_tables(embedded_region, names)
        if tables is not None:
            for table in tables:
                table.items.clear()
            return
    for name in names:
        _delete_all_items(client, name)


def _delete_all_items(client: Any, name: str) -> None:
    description = client.describe_table(TableName=name)["Table"]
    key_names = [k["AttributeName"] for k in description["KeySchema"]]
    aliases = {f"#k{i}": n for i, n in enumerate(key_names)}
    paginator = client.get_paginator("scan")
    pages = paginator.paginate(
        TableName=name, ProjectionExpression=", ".join(aliases), ExpressionAttributeNames=aliases
    )
    batch: list[dict[str, Any]] = []
    for page in pages:
        for item in page.get("Items", []):
            batch.append({"DeleteRequest": {"Key": {k: item[k] for k in key_names}}})
            if len(batch) == 25:
                _write(client, name, batch)
                batch = []
    if batch:
        _write(client, name, batch)


def _write(client: Any, name: str, requests: list[dict[str, Any]]) -> None:
    pending = {name: requests}
    for attempt in range(8):  # unprocessed items come back when the server is busy: retry, bounded
        pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        if not pending:
            return
        time.sleep(0.05 * 2**attempt)
    raise TableError(f"emptying table {name!r}: the server kept items unprocessed after 8 attempts")


def recreate_tables(client: Any, specs: Sequence[TableSpec], timeout: float = _SETTLE_TIMEOUT) -> None:
    """Delete the tables and create them again from their declarations."""
    for spec in specs:
        try:
            client.delete_table(TableName=spec.name)
        except Exception as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
    for spec in specs:
        _wait_gone(client, spec, timeout)
    create_tables(client, specs, timeout)


def _wait_gone(client: Any, spec: TableSpec, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        try:
            client.describe_table(TableName=spec.name)
        except Exception as exc:
            if _code(exc) == "ResourceNotFoundException":
                return
            raise
        if time.monotonic() + delay > deadline:
            raise TableError(f"table {spec.name!r} ({spec.where}) was not deleted within {timeout:g}s")
        time.sleep(delay)  # a bounded poll of the server's state
        delay = min(delay * 2, 0.5)
