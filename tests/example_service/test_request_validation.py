"""Unit tests of the request validation and the page tokens shared by both APIs."""

from __future__ import annotations

import base64
import json

import pytest

from example_service import validation as v
from example_service.errors import InvalidArgument


@pytest.mark.parametrize(
    ("email", "stored"),
    [
        ("a@example.com", "a@example.com"),
        ("First.Last+tag@Sub.Example.ORG", "first.last+tag@sub.example.org"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("x@xn--bcher-kva.example", "x@xn--bcher-kva.example"),
        ("a" * 64 + "@" + ("b" * 63 + ".") * 2 + "c" * 57 + ".com", None),  # exactly 254 characters
    ],
)
def test_valid_emails_are_lower_cased(email: str, stored: str | None) -> None:
    assert v.validate_email(email) == (stored or email.lower())


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("", "email is required"),
        ("plainaddress", "not an email address"),
        ("@example.com", "not an email address"),
        ("a@", "not an email address"),
        ("a@localhost", "not an email address"),
        ("a..b@example.com", "not an email address"),
        (".a@example.com", "not an email address"),
        ("a b@example.com", "not an email address"),
        ("a@-example.com", "not an email address"),
        ("a@example.123", "not an email address"),
        ("jose@ejemplo.españa", "not ASCII"),
        ("a" * 65 + "@example.com", "65-character local part"),
        ("a@" + "b" * 250 + ".com", "the limit is 254"),
        ("a@example.com\n", "not an email address"),
    ],
)
def test_invalid_emails_say_what_is_wrong(email: str, expected: str) -> None:
    with pytest.raises(InvalidArgument, match=expected) as info:
        v.validate_email(email)
    assert info.value.code == "INVALID_ARGUMENT"


def test_an_email_of_the_wrong_type_names_the_type() -> None:
    with pytest.raises(InvalidArgument, match="email must be a string, got int 42"):
        v.validate_email(42)


@pytest.mark.parametrize(
    "account", ["a", "acct-1", "A.b_c-9", "x" * 64, "123e4567-e89b-12d3-a456-426614174000"]
)
def test_valid_account_ids(account: str) -> None:
    assert v.validate_account_id(account) == account


@pytest.mark.parametrize("account", ["", "x" * 65, "-a", "a/b", "a:export", "a b", "ü", "a%2F"])
def test_invalid_account_ids(account: str) -> None:
    with pytest.raises(InvalidArgument, match="account_id"):
        v.validate_account_id(account)


def test_reason_limits() -> None:
    assert v.validate_reason("") == ""
    assert v.validate_reason("r" * 512) == "r" * 512
    assert v.validate_reason("bounced: 550 5.1.1 \u2709 \U0001f4e7\tline\nline").startswith("bounced")
    with pytest.raises(InvalidArgument, match="reason is 513 characters long; the limit is 512"):
        v.validate_reason("r" * 513)


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x7f", "\ud800"])
def test_reason_refuses_control_characters_and_lone_surrogates(char: str) -> None:
    with pytest.raises(InvalidArgument, match=f"U\\+{ord(char):04X}"):
        v.validate_reason(f"bad{char}reason")


@pytest.mark.parametrize(("given", "size"), [(None, 50), (0, 50), (1, 1), (100, 100), ("7", 7), ("0", 50)])
def test_page_sizes(given: object, size: int) -> None:
    assert v.validate_page_size(given) == size


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (-1, "out of range"),
        (101, "out of range"),
        ("ten", "not a whole number"),
        ("-3", "not a whole number"),
        ("", "not a whole number"),
        ("\u00b2", "not a whole number"),
        ("\u0663", "not a whole number"),
        ("9" * 5000, "out of range"),
        (1.5, "must be an integer"),
        (True, "must be an integer"),
    ],
)
def test_bad_page_sizes(given: object, expected: str) -> None:
    with pytest.raises(InvalidArgument, match=expected):
        v.validate_page_size(given)


def test_page_tokens_round_trip_and_are_url_safe() -> None:
    token = v.encode_page_token("acct", "a+b/c@example.com")
    assert all(c.isalnum() or c in "-_" for c in token)
    assert v.decode_page_token(token, "acct") == "a+b/c@example.com"
    assert v.decode_page_token("", "acct") is None


def _token(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "zzz",
        "!!!!",
        "a" * 2000,
        "eyJ2IjoxLCJhIjoiYWNjdCIsImUiOiJhQGV4YW1wbGUuY29tIn0=junk",
        _token([1, 2]),
        _token({"v": 2, "a": "acct", "e": "a@example.com"}),
        _token({"v": 1, "a": "acct", "e": "not-an-email"}),
        _token({"v": 1, "a": "acct", "e": "UPPER@example.com"}),
        _token({"v": 1, "a": "acct", "e": "a@example.com", "extra": 1}),
        _token({"v": 1, "a": "acct", "e": 5}),
        base64.urlsafe_b64encode(b"\xff\xfe").decode().rstrip("="),
    ],
)
def test_bad_page_tokens_are_invalid_argument(token: str) -> None:
    with pytest.raises(InvalidArgument, match="was not issued by this service") as info:
        v.decode_page_token(token, "acct")
    assert len(info.value.message) < 300  # a huge token is not echoed back whole


def test_a_token_from_another_account_is_refused() -> None:
    token = v.encode_page_token("other", "a@example.com")
    with pytest.raises(InvalidArgument, match="belongs to another account"):
        v.decode_page_token(token, "acct")
