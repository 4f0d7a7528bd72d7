"""The steps of AWS Signature Version 4, shared by the signer and the verifier.

Each step is a small pure function, named after the SigV4 documentation (canonical request,
string to sign, signing key, signature), so AWS's published vectors can check each one.
The rules follow botocore's ``SigV4Auth`` for non-S3 services: the path has its dot segments and
repeated slashes removed and is then URI-encoded once more (SigV4 encodes each path twice),
the query's names and values are decoded and re-encoded with AWS's unreserved set and sorted,
and header values are trimmed, with inner runs of whitespace collapsed to one space.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote_plus

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
TERMINATOR = "aws4_request"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

_PLAIN_QUERY = re.compile(r"[A-Za-z0-9\-_.~=&]*")

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


def header_pairs(headers: Headers | None) -> list[tuple[str, str]]:
    """``headers`` (a mapping or ``(name, value)`` pairs, names in any case) as lower-case pairs."""
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [
        (name.lower().strip(), value.decode("latin-1") if isinstance(value, bytes) else value)
        for name, value in items
    ]


def remove_dot_segments(path: str) -> str:
    """RFC 3986 dot-segment removal, also collapsing repeated slashes (as AWS services expect)."""
    if not path:
        return "/"
    out: list[str] = []
    for segment in path.split("/"):
        if not segment or segment == ".":
            continue
        if segment == "..":
            if out:
                out.pop()
        else:
            out.append(segment)
    first = "/" if path[0] == "/" else ""
    last = "/" if path[-1] == "/" and out else ""
    return first + "/".join(out) + last


def canonical_path(path: str, *, normalize: bool = True) -> str:
    """The canonical URI: the path as sent on the wire, normalized, then URI-encoded once more."""
    if normalize:
        path = remove_dot_segments(path)
    return quote(path or "/", safe="/~")


def canonical_query(query: str) -> str:
    """The canonical query string: each name and value AWS-encoded, pairs sorted.

    Values are decoded first, so a query encoded by any client (``requests`` leaves some
    reserved characters bare) yields the same canonical form. ``+`` is a space, as form encoding
    (``requests``' ``params=``) means it and AWS services read it; a literal plus travels as ``%2B``.
    """
    if not query:
        return ""
    # Most queries hold only unreserved characters: they are canonical once sorted.
    plain = _PLAIN_QUERY.fullmatch(query) is not None
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if not plain:
            name, value = quote(unquote_plus(name), safe="-_.~"), quote(unquote_plus(value), safe="-_.~")
        pairs.append((name, value))
    pairs.sort()
    return "&".join(f"{name}={value}" for name, value in pairs)


def canonical_headers(pairs: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """``(canonical headers, signed headers)`` for lower-case ``(name, value)`` pairs.

    Repeated names keep their order and join with commas; each value is trimmed with inner
    whitespace (folded lines included) collapsed to one space.
    """
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(" ".join(value.split()))
    names = sorted(grouped)
    text = "".join(f"{name}:{','.join(grouped[name])}\n" for name in names)
    return text, ";".join(names)


def canonical_request(
    method: str, path: str, query: str, headers_text: str, signed_headers: str, *, content_hash: str
) -> str:
    """Join the canonical parts (already canonical) into the canonical request."""
    return f"{method.upper()}\n{path}\n{query}\n{headers_text}\n{signed_headers}\n{content_hash}"


def credential_scope(date: str, region: str, service: str) -> str:
    """``date/region/service/aws4_request`` (``date`` is ``YYYYMMDD``)."""
    return f"{date}/{region}/{service}/{TERMINATOR}"


def string_to_sign(amz_date: str, scope: str, request: str) -> str:
    """The string to sign for a canonical request made at ``amz_date`` within ``scope``."""
    digest = hashlib.sha256(request.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """Derive the signing key for one day, region and service (four HMAC-SHA256 rounds)."""
    key = hmac.digest(f"AWS4{secret_key}".encode(), date.encode("utf-8"), "sha256")
    for part in (region, service, TERMINATOR):
        key = hmac.digest(key, part.encode("utf-8"), "sha256")
    return key


def signature(key: bytes, text: str) -> str:
    """The hex HMAC-SHA256 of the string to sign under the derived signing key."""
    return hmac.digest(key, text.encode("utf-8"), "sha256").hex()


def authorization(access_key: str, scope: str, signed_headers: str, sig: str) -> str:
    """The ``Authorization`` header value."""
    return f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={signed_headers}, Signature={sig}"


def payload_hash(body: bytes | None) -> str:
    """Hex SHA-256 of the body (of the empty body when ``None``)."""
    return hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256


class SigningKeyCache:
    """Derived signing keys by (secret, date, region, service).

    The key changes once a day per region and service, so caching it saves four of the five
    HMACs of every signature. Bounded: cleared when it grows past ``size`` entries (a clock
    crossing midnight or rotating credentials add entries). Safe to share between threads:
    a race only computes the same key twice.
    """

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._keys: dict[tuple[str, str, str, str], bytes] = {}

    def get(self, secret_key: str, date: str, region: str, service: str) -> bytes:
        """The signing key, derived on first use."""
        index = (secret_key, date, region, service)
        key = self._keys.get(index)
        if key is None:
            if len(self._keys) >= self._size:
                self._keys.clear()
            key = self._keys[index] = signing_key(secret_key, date, region, service)
        return key

    def __repr__(self) -> str:
        return f"<SigningKeyCache {len(self._keys)} keys>"
