"""The SigV4 signer shared by the HTTP and gRPC transports.

It produces the same signature as botocore's ``SigV4Auth`` for the same request and time, but
signs only the headers no proxy rewrites (host, x-amz-date, x-amz-content-sha256,
x-amz-security-token) and caches the derived signing key, so a signature costs two hashes.
Credentials are re-read (``get_frozen_credentials()``) for every request, so refreshing
credentials (assumed roles, SSO, container and instance roles) rotate under a running suite.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import SplitResult, urlsplit

from pytest_dualmode.sigv4 import canonical
from pytest_dualmode.sigv4.canonical import Headers

#: The headers the signer signs by default: none of them is rewritten by a proxy or HTTP client.
SAFE_HEADERS = frozenset({"host", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"})

# The headers the signer owns: a caller's copy (a retry, a re-sign) is dropped, never signed twice.
_OWN_HEADERS = frozenset({"authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"})

#: Services whose front door cannot sign payloads (VPC Lattice); others sign the payload hash.
UNSIGNED_PAYLOAD_SERVICES = frozenset({"vpc-lattice-svcs"})

_DEFAULT_PORTS = {"http": 80, "https": 443}


class FrozenCredentials(Protocol):
    """What the signer reads from botocore's ``ReadOnlyCredentials``."""

    access_key: str
    secret_key: str
    token: str | None


def host_from_url(url: str) -> str:
    """The ``host`` header an HTTP client sends for ``url``: lower case, default port dropped."""
    return _host(urlsplit(url))


def _host(parts: SplitResult) -> str:
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{port}"
    return host


@dataclass(frozen=True)
class SignedRequest:
    """One signature with its intermediate steps (for tests and debugging; never printed whole)."""

    headers: dict[str, str] = field(repr=False)
    canonical_request: str = field(repr=False)
    string_to_sign: str = field(repr=False)
    signature: str = field(repr=False)


class Signer:
    """Sign requests with AWS Signature Version 4.

    ``credentials`` is a botocore ``Credentials`` / ``RefreshableCredentials`` (anything with
    ``get_frozen_credentials()``, or a frozen ``ReadOnlyCredentials``). ``sign_payload`` puts the
    body's SHA-256 in the signature (API Gateway's ``execute-api``); otherwise the payload is
    ``UNSIGNED-PAYLOAD`` (VPC Lattice). ``clock`` returns epoch seconds (default ``time.time``).

    The rest serve AWS's test vectors and S3-like services: ``header_filter`` picks which of the
    caller's headers are signed (default: only :data:`SAFE_HEADERS`); ``content_sha256_header``
    adds and signs ``x-amz-content-sha256``; ``sign_token=False`` sends the session token
    unsigned; ``normalize_path=False`` keeps dot segments and repeated slashes.
    """

    def __init__(
        self,
        credentials: Any,
        region: str,
        service: str,
        *,
        sign_payload: bool,
        clock: Callable[[], float] | None = None,
        header_filter: Callable[[str], bool] | Collection[str] | None = None,
        content_sha256_header: bool = True,
        sign_token: bool = True,
        normalize_path: bool = True,
    ) -> None:
        self.region = region
        self.service = service
        self.sign_payload = sign_payload
        self._credentials = credentials
        self._clock = clock or time.time
        if header_filter is None:
            header_filter = SAFE_HEADERS
        self._wants = header_filter.__contains__ if isinstance(header_filter, Collection) else header_filter
        self._content_sha256_header = content_sha256_header
        self._sign_token = sign_token
        self._normalize_path = normalize_path
        self._keys = canonical.SigningKeyCache()
        self._paths: dict[str, str] = {}
        self._stamp = (-1, "")

    def __repr__(self) -> str:
        payload = "signed" if self.sign_payload else "unsigned"
        return f"<Signer service={self.service} region={self.region} payload={payload}>"

    def credentials(self) -> FrozenCredentials:
        """The current credentials (re-read on every call, so refreshed ones are picked up)."""
        getter = getattr(self._credentials, "get_frozen_credentials", None)
        frozen: FrozenCredentials = getter() if getter is not None else self._credentials
        return frozen

    def sign(
        self,
        method: str,
        url: str,
        headers: Headers | None = None,
        body: bytes | None = None,
        *,
        unsigned_payload: bool = False,
    ) -> dict[str, str]:
        """The headers to add to a request so it is signed: ``Authorization``, ``X-Amz-Date``,
        ``X-Amz-Content-Sha256`` and, with a session token, ``X-Amz-Security-Token``.

        ``url`` is the final URL as sent (path and query percent-encoded as on the wire);
        ``host`` comes from ``headers`` when given there, else from ``url``. ``unsigned_payload``
        forces ``UNSIGNED-PAYLOAD`` (streamed bodies, as in gRPC).
        """
        parts = urlsplit(url)
        host = None if headers is None else _find_host(headers)
        return self.sign_parts(
            method,
            host or _host(parts),
            parts.path,
            parts.query,
            headers=headers,
            body=body,
            unsigned_payload=unsigned_payload,
        ).headers

    def sign_parts(
        self,
        method: str,
        host: str,
        path: str,
        query: str = "",
        *,
        headers: Headers | None = None,
        body: bytes | None = None,
        unsigned_payload: bool = False,
    ) -> SignedRequest:
        """Sign a request given as its parts (no URL to parse); returns the headers and each step."""
        creds = self.credentials()
        amz_date = self._now()
        date = amz_date[:8]
        if unsigned_payload or not self.sign_payload:
            content_hash = canonical.UNSIGNED_PAYLOAD
        else:
            content_hash = canonical.payload_hash(body)

        pairs = [("host", host)]
        for name, value in canonical.header_pairs(headers):
            if name != "host" and name not in _OWN_HEADERS and self._wants(name):
                pairs.append((name, value))
        added = {"X-Amz-Date": amz_date}
        pairs.append(("x-amz-date", amz_date))
        if self._content_sha256_header:
            added["X-Amz-Content-Sha256"] = content_hash
            pairs.append(("x-amz-content-sha256", content_hash))
        if creds.token:
            added["X-Amz-Security-Token"] = creds.token
            if self._sign_token:
                pairs.append(("x-amz-security-token", creds.token))
        headers_text, signed_headers = canonical.canonical_headers(pairs)

        request = canonical.canonical_request(
            method,
            self._canonical_path(path),
            canonical.canonical_query(query),
            headers_text,
            signed_headers,
            content_hash=content_hash,
        )
        scope = canonical.credential_scope(date, self.region, self.service)
        text = canonical.string_to_sign(amz_date, scope, request)
        key = self._keys.get(creds.secret_key, date, self.region, self.service)
        sig = canonical.signature(key, text)
        added["Authorization"] = canonical.authorization(creds.access_key, scope, signed_headers, sig)
        return SignedRequest(added, request, text, sig)

    def _now(self) -> str:
        # Formatting a timestamp costs more than the HMAC; reuse it within the same second.
        # One tuple, swapped whole, so concurrent signers never pair a second with another's text.
        second = int(self._clock())
        stamp = self._stamp
        if stamp[0] != second:
            stamp = self._stamp = (second, time.strftime(canonical.AMZ_DATE_FORMAT, time.gmtime(second)))
        return stamp[1]

    def _canonical_path(self, path: str) -> str:
        # gRPC signs a handful of method paths over and over: remember their canonical form.
        cached = self._paths.get(path)
        if cached is None:
            cached = canonical.canonical_path(path, normalize=self._normalize_path)
            if len(self._paths) < 1024:
                self._paths[path] = cached
        return cached


def _find_host(headers: Headers) -> str | None:
    for name, value in canonical.header_pairs(headers):
        if name == "host":
            return value
    return None


def preset_signs_payload(service: str) -> bool:
    """Whether ``service``'s front door expects the payload hash signed (``execute-api``: yes;
    ``vpc-lattice-svcs``: no, it needs ``UNSIGNED-PAYLOAD``)."""
    return service not in UNSIGNED_PAYLOAD_SERVICES
