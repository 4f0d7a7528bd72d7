"""Mask secrets in text bound for output: failure reports, logs, Lambda results.

What is masked (the value becomes ``[REDACTED]``, as elsewhere in the project):
- ``Authorization`` values, as header lines, ``key: value`` / ``key=value`` pairs, dict and JSON
  items, gRPC metadata tuples; and any ``AWS4-HMAC-SHA256 Credential=...`` value wherever it is;
- signatures (``Signature=<hex>``, ``X-Amz-Signature=<hex>``);
- session tokens (``x-amz-security-token``, ``aws_session_token`` and the like, and AWS STS
  token strings by their well-known prefixes);
- secret keys (``aws_secret_access_key``, ``secret`` and the like, and any 40-character
  AWS-secret-looking word: base64 letters with upper case, lower case and a digit);
- any exact values passed in ``extra`` (e.g. the run's own generated keys).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

MASK = "[REDACTED]"
# Where the running process keeps its own secrets (Lambda puts the role's session credentials here).
SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")

_KEYS = (
    r"authorization|proxy-authorization|x-amz-security-token|x-amz-signature|x-amz-content-sha256-secret"
    r"|aws_secret_access_key|secret_access_key|secretaccesskey|aws_session_token|session_token|sessiontoken"
    r"|security_token|securitytoken|secret_key|secretkey|secret|signature"
)

# 'key': 'value', "key": "value", ('key', 'value'), key='value', Metadatum(key='key', value='value')
_QUOTED = re.compile(
    rf"""(?ix)
    (?P<head>(?P<kq>["']?)\b(?:{_KEYS})\b(?P=kq)
        \s*(?:[:=,]|,\s*value\s*=)\s*)
    (?P<q>["'])(?P<value>(?:\\.|(?!(?P=q)).)*)(?P=q)
    """
)
# Authorization: AWS4-HMAC-SHA256 ... (a header line: the value runs to the end of the line)
_HEADER_LINE = re.compile(rf"(?im)^(?P<head>[ \t>]*(?:{_KEYS})[ \t]*:[ \t]*)(?P<value>[^\r\n]+)")
# key=value / key: value unquoted (environment, query strings, logs); bare "signature" is left to
# _SIGNATURE, since prose such as "signature: mismatch" is common and not secret.
_BARE = re.compile(rf"(?i)(?P<head>\b(?!signature\b)(?:{_KEYS})\b\s*[=:]\s*)(?P<value>[^\s'\"&,;)\]}}]+)")
_SIGV4_VALUE = re.compile(r"AWS4-HMAC-SHA256\s+Credential=[^\s'\",]*(?:,\s*\w+=[^\s'\",]*)*")
_SIGNATURE = re.compile(r"(?i)(?P<head>\b(?:x-amz-)?signature=)[0-9a-f]{16,}")
# STS session tokens start with base64 of a fixed header: IQoJb3JpZ2lu, FwoGZXIvYXdz, AQoDYXdz, ...
_STS_TOKEN = re.compile(
    r"(?:IQoJb3JpZ2lu|FwoGZXIvYXdz|FQoGZXIvYXdz|AQoDYXdz|AgoJb3JpZ2lu)[A-Za-z0-9+/=%]{20,}"
)
_SECRET_LIKE = re.compile(r"(?<![A-Za-z0-9/+_-])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+_=-])")


def _mask_secret_like(match: re.Match[str]) -> str:
    # Git SHAs, hex digests and words are not secrets: AWS secret keys mix cases and digits.
    word = match.group()
    if any(c.isupper() for c in word) and any(c.islower() for c in word) and any(c.isdigit() for c in word):
        return MASK
    return word


def _mask_value(match: re.Match[str]) -> str:
    if match.group("value").startswith(MASK[:-1]):  # already masked by an earlier pattern
        return match.group()
    quote = match.groupdict().get("q") or ""
    return f"{match.group('head')}{quote}{MASK}{quote}"


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with Authorization values, signatures, session tokens and secret keys masked."""
    for value in sorted((v for v in extra if v and len(v) >= 4), key=len, reverse=True):
        text = text.replace(value, MASK)
    text = _SIGV4_VALUE.sub(f"AWS4-HMAC-SHA256 {MASK}", text)
    text = _QUOTED.sub(_mask_value, text)
    text = _HEADER_LINE.sub(_mask_value, text)
    text = _BARE.sub(_mask_value, text)
    text = _SIGNATURE.sub(lambda m: m.group("head") + MASK, text)
    text = _STS_TOKEN.sub(MASK, text)
    return _SECRET_LIKE.sub(_mask_secret_like, text)


def environment_secrets(environ: Mapping[str, str]) -> list[str]:
    """The values of the secret AWS variables in ``environ`` (8 characters or more), to pass as ``extra``."""
    return [v for v in (environ.get(name, "") for name in SECRET_VARIABLES) if len(v) >= 8]
