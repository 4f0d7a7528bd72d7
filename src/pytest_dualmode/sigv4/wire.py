"""Names on the wire shared by the signing transports and the verifier (no imports, so any of them
can use it without importing another)."""

from __future__ import annotations

#: The metadata key carrying the host a gRPC client signed (grpcio hides ``:authority`` from servers).
AUTHORITY_METADATA = "x-dualmode-authority"

#: Headers a previous signature left on a request (a retry, a re-sent request): never signed twice.
SIGNING_HEADERS = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256")

#: The same as gRPC metadata keys (lower case), with the signed host: replaced, never sent twice.
SIGNING_METADATA = frozenset(name.lower() for name in SIGNING_HEADERS) | {AUTHORITY_METADATA}
