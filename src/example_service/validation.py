"""Request validation shared by the gRPC and HTTP APIs, and the opaque page tokens.

Every check raises :class:`~example_service.errors.InvalidArgument` with a message that names the
field, shows the bad value (shortened) and says what is accepted.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata

from example_service.errors import InvalidArgument

MAX_ACCOUNT_ID = 64
MAX_EMAIL = 254
MAX_LOCAL_PART = 64
MAX_REASON = 512
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
MAX_PAGE_TOKEN = 1024
_TOKEN_VERSION = 1

# Account ids appear in URL paths, so no '/', ':' or '%' (':export' is a route suffix).
_ACCOUNT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# RFC 5322 dot-atom local part; a DNS host name with at least two labels and a non-numeric TLD.
_LOCAL_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN_RE = re.compile(rf"(?:{_LABEL}\.)+(?:[A-Za-z]{{2,63}}|xn--[A-Za-z0-9-]{{1,59}})")
_ALLOWED_CONTROLS = frozenset("\t\n\r")
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]+")


def show(value: object, limit: int = 40) -> str:
    """``repr`` of a value for an error message, shortened so a huge input cannot flood a response."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value)} characters)"
    return repr(value)


def _require_str(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"{field} must be a string, got {type(value).__name__} {show(value)}")
    return value


def validate_account_id(value: object, field: str = "account_id") -> str:
    """An account id: 1-64 of letters, digits, '.', '_', '-', starting with a letter or digit."""
    text = _require_str(field, value)
    if not text:
        raise InvalidArgument(f"{field} is required")
    if len(text) > MAX_ACCOUNT_ID or not _ACCOUNT_RE.fullmatch(text):
        raise InvalidArgument(
            f"{field} {show(text)} is not a valid account id; use 1-{MAX_ACCOUNT_ID} letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    return text


def validate_email(value: object, field: str = "email") -> str:
    """An email address of at most 254 ASCII characters, returned lower-cased (the stored form)."""
    text = _require_str(field, value)
    if not text:
        raise InvalidArgument(f"{field} is required")
    if len(text) > MAX_EMAIL:
        raise InvalidArgument(f"{field} is {len(text)} characters long; the limit is {MAX_EMAIL}")
    if not text.isascii():
        raise InvalidArgument(
            f"{field} {show(text)} is not ASCII; write an internationalized domain in its punycode "
            "(xn--) form"
        )
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise InvalidArgument(f"{field} {show(text)} is not an email address; use the form name@example.com")
    if len(local) > MAX_LOCAL_PART:
        raise InvalidArgument(
            f"{field} {show(text)} has a {len(local)}-character local part; the limit is {MAX_LOCAL_PART}"
        )
    if not _LOCAL_RE.fullmatch(local) or not _DOMAIN_RE.fullmatch(domain):
        raise InvalidArgument(f"{field} {show(text)} is not an email address; use the form name@example.com")
    return text.lower()


def validate_reason(value: object, field: str = "reason") -> str:
    """A reason of at most 512 characters (may be empty); any language, no control characters."""
    text = _require_str(field, value)
    if len(text) > MAX_REASON:
        raise InvalidArgument(f"{field} is {len(text)} characters long; the limit is {MAX_REASON}")
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cs" or (category == "Cc" and ch not in _ALLOWED_CONTROLS):
            raise InvalidArgument(
                f"{field} contains the character U+{ord(ch):04X}; control characters (other than tab "
                "and newline) and unpaired surrogates are not allowed"
            )
    return text


def validate_page_size(value: object, field: str = "page_size") -> int:
    """A page size of 1-100; 0 (or absent) means the default of 50."""
    if isinstance(value, str):
        value = value.strip()
        if not (value.isascii() and value.isdigit()):  # str.isdigit() alone accepts '²'
            raise InvalidArgument(
                f"{field} {show(value)} is not a whole number; use 1-{MAX_PAGE_SIZE} (or omit it for "
                f"{DEFAULT_PAGE_SIZE})"
            )
        if len(value) > 9:  # out of range anyway, and int() refuses very long digit strings
            raise InvalidArgument(f"{field} {show(value)} is out of range; use 1-{MAX_PAGE_SIZE}")
        value = int(value)
    if value is None:
        return DEFAULT_PAGE_SIZE
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument(f"{field} must be an integer, got {type(value).__name__} {show(value)}")
    if value == 0:
        return DEFAULT_PAGE_SIZE
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise InvalidArgument(
            f"{field} {value} is out of range; use 1-{MAX_PAGE_SIZE} (or omit it for {DEFAULT_PAGE_SIZE})"
        )
    return value


def encode_page_token(account_id: str, last_email: str) -> str:
    """The opaque token of the page after ``last_email`` (URL-safe, no padding)."""
    payload = json.dumps({"v": _TOKEN_VERSION, "a": account_id, "e": last_email}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode()


_NOT_ISSUED_HERE = (
    "{field} {shown} was not issued by this service; pass the previous page's next_page_token "
    "unchanged, or omit it for the first page"
)


def decode_page_token(token: object, account_id: str, field: str = "page_token") -> str | None:
    """The last email of the previous page, from a token of :func:`encode_page_token` (None if empty)."""
    text = _require_str(field, token)
    if not text:
        return None
    bad = InvalidArgument(_NOT_ISSUED_HERE.format(field=field, shown=show(text)))
    if len(text) > MAX_PAGE_TOKEN or not _TOKEN_RE.fullmatch(text):
        raise bad
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw.decode())
    except (binascii.Error, ValueError):
        raise bad from None
    if not isinstance(data, dict) or set(data) != {"v", "a", "e"} or data["v"] != _TOKEN_VERSION:
        raise bad
    if data["a"] != account_id:
        raise InvalidArgument(
            f"{field} {show(text)} belongs to another account's listing; a token only continues the "
            "listing it came from"
        )
    try:
        email = validate_email(data["e"])
    except InvalidArgument:
        raise bad from None
    if email != data["e"]:
        raise bad
    return email
