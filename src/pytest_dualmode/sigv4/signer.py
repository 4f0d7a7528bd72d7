"""The SigV4 signer shared by the HTTP and gRPC transports.

It produces the same signature as botocore's ``SigV4Auth`` for the same request and time, but
signs only the headers no proxy rewrites (host, x-amz-date, x-amz-content-sha256,
x-amz-security-token) and caches the derived signing key, so a signature costs two hashes.
Credentials are re-read (``get_frozen_credentials()``) for every request, so refreshing
credentials (assumed roles, SSO, container and instance roles) rotate under a running suite.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, NamedTuple, Protocol
from urllib.parse import urlsplit

from pytest_dualmode.sigv4 import canonical
from pytest_dualmode.sigv4.canonical import Headers

#: The headers the signer signs by default: none of them is rewritten by a proxy or HTTP client.
SAFE_HEADERS = frozenset({"host", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"})

# The headers the signer owns: a caller's copy (a retry, a re-sign) is dropped, never signed twice.
_OWN_HEADERS = frozenset({"authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"})

#: Services whose front door cannot sign payloads (VPC Lattice); others sign the payload hash.
UNSIGNED_PAYLOAD_SERVICES = frozenset({"vpc-lattice-svcs"})

_DEFAULT_PORTS = {"http": 80, "https": 443}
_SIGNED = "host;x-amz-content-sha256;x-amz-date"
_SIGNED_WITH_TOKEN = _SIGNED + ";x-amz-security-token"


def _trim(value: str) -> str:
    # SigV4's Trimall; header values rarely hold whitespace, so skip the split when they do not.
    return " ".join(value.split()) if " " in value or "\t" in value or "\n" in value else value


class FrozenCredentials(Protocol):
    """What the signer reads from botocore's ``ReadOnlyCredentials``."""

    access_key: str
    secret_key: str
    token: str | None


# scheme://netloc/path?query#fragment; urlsplit() costs as much as the signature itself.
_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<netloc>[^/?#]*)(?P<path>[^?#]*)(?:\?(?P<query>[^#]*))?"
)


_HOSTS: dict[tuple[str, str], str] = {}


def split_url(url: str) -> tuple[str, str, str]:
    """``(host, path, query)`` of an absolute URL, ``host`` as :func:`host_from_url` gives it."""
    match = _URL.match(url)
    if match is None:
        parts = urlsplit(url)
        return _host(parts.scheme, parts.netloc), parts.path, parts.query
    scheme, netloc, path, query = match.group("scheme", "netloc", "path", "query")
    host = _HOSTS.get((scheme, netloc))
    if host is None:
        host = _host(scheme.lower(), netloc)
        if len(_HOSTS) < 1024:  # a suite talks to a handful of hosts
            _HOSTS[(scheme, netloc)] = host
    return host, path, query or ""


def host_from_url(url: str) -> str:
    """The ``host`` header an HTTP client sends for ``url``: lower case, default port dropped."""
    return split_url(url)[0]


def _host(scheme: str, netloc: str) -> str:
    # As botocore does: no user info, lower case, IPv6 in brackets, no port when it is the default.
    netloc = netloc.rpartition("@")[2]
    if netloc.startswith("["):
        name, _, rest = netloc[1:].partition("]")
        host, port = f"[{name.lower()}]", rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = netloc.partition(":")
        host = name.lower()
    if port and int(port) != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{int(port)}"
    return host


class SignedRequest(NamedTuple):
    """One signature with its intermediate steps (for tests and debugging; never printed whole)."""

    headers: dict[str, str]
    canonical_request: str
    string_to_sign: str
    signature: str

    def __repr__(self) -> str:
        return f"<SignedRequest {sorted(self.headers)}>"


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
        self._used: dict[str, str | None] = {}
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
        # Signatures of this second, by request: a gRPC method called again in the same second with
        # the same credentials has the same signature (SigV4 is deterministic), so it is reused.
        self._memo: tuple[str, dict[tuple[Any, ...], SignedRequest]] = ("", {})

    def __repr__(self) -> str:
        payload = "signed" if self.sign_payload else "unsigned"
        return f"<Signer service={self.service} region={self.region} payload={payload}>"

    def credentials(self) -> FrozenCredentials:
        """The current credentials (re-read on every call, so refreshed ones are picked up)."""
        getter = getattr(self._credentials, "get_frozen_credentials", None)
        frozen: FrozenCredentials = getter() if getter is not None else self._credentials
        # Remember every secret and token ever used, so output can be redacted of rotated-out ones
        # too; bounded, since a run sees a handful of rotations at most.
        if frozen.secret_key not in self._used and len(self._used) < 256:
            self._used[frozen.secret_key] = frozen.token
        return frozen

    def used_secrets(self) -> list[str]:
        """Every secret key and session token this signer has read (for redaction, never for output)."""
        return [v for pair in list(self._used.items()) for v in pair if v]

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
        url_host, path, query = split_url(url)
        host = None if not headers else _find_host(headers)
        signed = self.sign_parts(
            method,
            host or url_host,
            path,
            query,
            headers=headers,
            body=body,
            unsigned_payload=unsigned_payload,
        )
        return dict(signed.headers)  # a copy: the caller may change it, the memo must not

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
        """Sign a request given as its parts (no URL to parse); returns the headers and each step.

        The result's ``headers`` dict may be shared with later calls: copy it before changing it.
        """
        creds = self.credentials()
        amz_date = self._now()
        if unsigned_payload or not self.sign_payload:
            content_hash = canonical.UNSIGNED_PAYLOAD
        else:
            content_hash = canonical.payload_hash(body)
        extra = (
            [
                (name, value)
                for name, value in canonical.header_pairs(headers)
                if name != "host" and name not in _OWN_HEADERS and self._wants(name)
            ]
            if headers
            else None
        )
        if extra:
            return self._sign(method, host, path, query, extra, content_hash, creds, amz_date)
        memo_date, memo = self._memo
        if memo_date != amz_date:
            memo = {}
            self._memo = (amz_date, memo)
        index = (method, host, path, query, content_hash, creds.access_key, creds.secret_key, creds.token)
        signed = memo.get(index)
        if signed is None:
            signed = self._sign(method, host, path, query, None, content_hash, creds, amz_date)
            if len(memo) >= 256:  # many distinct requests this second: start over, keep the memo small
                memo.clear()
            memo[index] = signed
        return signed

    def _sign(  # noqa: PLR0917 - private, hot: positional on purpose
        self,
        method: str,
        host: str,
        path: str,
        query: str,
        extra: list[tuple[str, str]] | None,
        content_hash: str,
        creds: FrozenCredentials,
        amz_date: str,
    ) -> SignedRequest:
        date = amz_date[:8]
        token = creds.token
        added = {"X-Amz-Date": amz_date}
        if self._content_sha256_header:
            added["X-Amz-Content-Sha256"] = content_hash
        if token:
            added["X-Amz-Security-Token"] = token
        if extra is None and self._content_sha256_header and self._sign_token:
            # The usual request: only our own headers, whose names are already in sorted order.
            headers_text = (
                f"host:{_trim(host)}\nx-amz-content-sha256:{content_hash}\nx-amz-date:{amz_date}\n"
                + (f"x-amz-security-token:{_trim(token)}\n" if token else "")
            )
            signed_headers = _SIGNED_WITH_TOKEN if token else _SIGNED
        else:
            pairs = [("host", host), *(extra or ()), ("x-amz-date", amz_date)]
            if self._content_sha256_header:
                pairs.append(("x-amz-content-sha256", content_hash))
            if token and self._sign_token:
                pairs.append(("x-amz-security-token", token))
            headers_text, signed_headers = canonical.canonical_headers(pairs)

        request = canonical.canonical_request(
            method,
            self._canonical_path(path),
            canonical.canonical_query(query),
            headers_text,
            signed_headers,
            content_hash=content_hash,
        )
        scope = f"{date}/{self.region}/{self.service}/{canonical.TERMINATOR}"
        text = canonical.string_to_sign(amz_date, scope, request)
        sig = canonical.signature(self._keys.get(creds.secret_key, date, self.region, self.service), text)
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
    items = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in items:
        if len(name) == 4 and name.lower() == "host":
            return value.decode("latin-1") if isinstance(value, bytes) else value
    return None


def preset_signs_payload(service: str) -> bool:
    """Whether ``service``'s front door expects the payload hash signed (``execute-api``: yes;
    ``vpc-lattice-svcs``: no, it needs ``UNSIGNED-PAYLOAD``)."""
    return service not in UNSIGNED_PAYLOAD_SERVICES
