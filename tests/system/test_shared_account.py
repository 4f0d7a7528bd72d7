"""A destructive test: it empties a well-known account that every run shares.

Two runs against one deployed instance would disturb each other here, so it never runs remotely
without ``--allow-destructive``.
"""

from __future__ import annotations

from typing import Any

import pytest

from example_service.gen.suppression.v1 import suppression_pb2 as pb

SHARED_ACCOUNT = "dualmode-shared-fixture"


@pytest.mark.destructive
def test_clearing_the_shared_account_through_its_export(stub: Any, http: Any) -> None:
    for i in range(3):
        stub.Add(pb.AddRequest(account_id=SHARED_ACCOUNT, email=f"shared{i}@example.com", reason="shared"))
    exported = [r.email for r in stub.Export(pb.ExportRequest(account_id=SHARED_ACCOUNT))]
    assert {f"shared{i}@example.com" for i in range(3)} <= set(exported)
    for email in exported:
        assert http.delete(f"/v1/suppressions/{SHARED_ACCOUNT}/{email}").status_code == 204
    assert list(stub.Export(pb.ExportRequest(account_id=SHARED_ACCOUNT))) == []
