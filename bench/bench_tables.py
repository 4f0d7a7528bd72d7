"""Isolating tests through the declared tables: the plugin's reset against deleting and recreating by hand.

Three tables as a template declares them (one with a GSI and an LSI, one with TTL, one simple), each
holding ``--items`` items; each variant brings them back to empty, timed, then the items are written
again (not timed) for the next variant:

- ``reset (embedded)``: ``dynamodb_reset()`` against the embedded DynamoDB: the items are dropped in
  moto's backend, no request at all;
- ``reset (scan+delete)``: the same fixture's path for any other DynamoDB-compatible server: scan the
  keys, ``BatchWriteItem`` deletes of 25 (here through the same in-process client, so only the method
  differs);
- ``by hand``: ``delete_table`` + ``create_table`` (+ ``update_time_to_live``) of each, waiting for
  ACTIVE, through the same client: what a test suite does without the plugin;
- ``... (HTTP)``: the scan+delete reset and the by-hand way again, through the embedded DynamoDB's
  HTTP endpoint, as against an external server (``--dynamodb-endpoint``).

Variants are interleaved, their order rotated every round; the figure is the median of the per-round
ratios (by hand / variant), beside each variant's median milliseconds. Target: the embedded reset
>= 10x faster than by hand.

Run: ``python bench/bench_tables.py [--rounds N] [--items N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from typing import Any

from benchlib import machine_line

TARGET = 10.0
TEMPLATE = """
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: bench-orders
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: S}
        - {AttributeName: g, AttributeType: S}
      KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: sk, KeyType: RANGE}]
      GlobalSecondaryIndexes:
        - IndexName: by-g
          KeySchema: [{AttributeName: g, KeyType: HASH}]
          Projection: {ProjectionType: ALL}
      LocalSecondaryIndexes:
        - IndexName: by-pk-g
          KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: g, KeyType: RANGE}]
          Projection: {ProjectionType: KEYS_ONLY}
  Sessions:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: bench-sessions
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      TimeToLiveSpecification: {AttributeName: expires, Enabled: true}
  Counters:
    Type: AWS::Serverless::SimpleTable
    Properties: {TableName: bench-counters}
"""


def fill(client: Any, specs: list[Any], items: int) -> None:
    """Write ``items`` items into each table (25 per BatchWriteItem)."""
    for spec in specs:
        keys = [k["AttributeName"] for k in spec.create["KeySchema"]]
        requests = []
        for i in range(items):
            item = {k: {"S": f"{k}-{i}"} for k in keys}
            item["g"] = {"S": f"g-{i % 7}"}
            requests.append({"PutRequest": {"Item": item}})
        for start in range(0, len(requests), 25):
            client.batch_write_item(RequestItems={spec.name: requests[start : start + 25]})


def by_hand(client: Any, specs: list[Any]) -> None:
    """What a suite does without the plugin: delete each table and create it again, waiting for ACTIVE."""
    for spec in specs:
        client.delete_table(TableName=spec.name)
        client.get_waiter("table_not_exists").wait(TableName=spec.name, WaiterConfig={"Delay": 0.01})
    for spec in specs:
        client.create_table(**spec.create)
        client.get_waiter("table_exists").wait(TableName=spec.name, WaiterConfig={"Delay": 0.01})
        if spec.ttl_attribute:
            client.update_time_to_live(
                TableName=spec.name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--items", type=int, default=100)
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    from pytest_dualmode.local.dynamodb import EmbeddedDynamoDB
    from pytest_dualmode.tables import load as load_tables
    from pytest_dualmode.tables.local import create_tables, empty_tables

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        fh.write(TEMPLATE)
    specs = load_tables([fh.name], "us-east-1")
    os.unlink(fh.name)
    names = [s.name for s in specs]
    db = EmbeddedDynamoDB().start()
    try:
        client = db.client()
        over_http = db.client(in_process=False)  # as a client of an external server would be
        create_tables(client, specs)
        variants = {
            "reset (embedded)": lambda: empty_tables(client, names, embedded_region=db.region),
            "reset (scan+delete)": lambda: empty_tables(client, names),
            "by hand": lambda: by_hand(client, specs),
            "reset (scan+delete, HTTP)": lambda: empty_tables(over_http, names),
            "by hand (HTTP)": lambda: by_hand(over_http, specs),
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        order = list(variants)
        for round_ in range(args.rounds + 1):  # round 0 warms up and is not counted
            order = order[1:] + order[:1]
            for name in order:
                fill(client, specs, args.items)
                started = time.perf_counter()
                variants[name]()
                elapsed = time.perf_counter() - started
                if any(client.scan(TableName=n, Select="COUNT")["Count"] for n in names):
                    print(f"{name}: tables not empty after the reset", file=sys.stderr)
                    return 1
                if round_:
                    times[name].append(elapsed)
        print(f"3 tables x {args.items} items, {args.rounds} rounds; median ms to empty,")
        print("ratio = by hand (same transport) / variant")
        for name, values in times.items():
            hand = times["by hand (HTTP)" if "HTTP" in name else "by hand"]
            ratios = [h / v for h, v in zip(hand, values, strict=True)]
            print(
                f"  {name:<22} {statistics.median(values) * 1000:8.2f} ms   {statistics.median(ratios):7.1f}x"
            )
        pairs = zip(times["by hand"], times["reset (embedded)"], strict=True)
        embedded = statistics.median(h / v for h, v in pairs)
        print(
            f"target: reset (embedded) >= {TARGET:g}x by hand: {'met' if embedded >= TARGET else 'NOT met'}"
        )
        print(machine_line(load))
    finally:
        db.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
