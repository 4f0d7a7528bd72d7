"""Redaction of secrets in text that ``dualmode invoke`` prints or writes (log tails, failure messages).

The handler already keeps secrets out of its results; this is the caller's second line of defence for
the free-form text a test may print (a logged request, a dumped environment). The project's shared
redactor (``pytest_dualmode.sigv4.redact.redact``) runs when it is importable; these patterns always do.
"""

from __future__ import annotations

import os
import re

REDACTED = "[REDACTED]"

# key-ish prefix (kept) followed by the secret value (replaced)
_PATTERNS = (
    # Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=... (the whole value)
    re.compile(r"""(?i)(\bauthorization['"]?\s*[:=]\s*['"]?)[^'"\r\n]+"""),
    re.compile(r"""(?i)(\bx-amz-security-token['"]?\s*[:=]\s*['"]?)[^'"\s,;&]+"""),
    re.compile(r"""(?i)(\bx-amz-signature=)[^'"\s,;&]+"""),
    re.compile(r"""(?i)(\bsignature=)[0-9a-f]{16,}"""),
    re.compile(r"""(?i)(\b(?:aws_)?secret_?access_?key['"]?\s*[:=]\s*['"]?)[^'"\s,;&]+"""),
    re.compile(r"""(?i)(\b(?:aws_)?session_?token['"]?\s*[:=]\s*['"]?)[^'"\s,;&]+"""),
)
# exact values of the caller's own secrets, wherever they appear
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
_MIN_SECRET_LEN = 8  # shorter "secrets" would redact ordinary words


def _shared(text: str) -> str:
    try:
        from pytest_dualmode.sigv4.redact import redact as shared  # type: ignore[import-not-found,unused-ignore]
    except Exception:  # not present (or broken): the local patterns below still apply
        return text
    try:
        result = shared(text)
    except Exception:
        return text
    return result if isinstance(result, str) else text


def redact(text: str) -> str:
    """Return ``text`` with Authorization headers, signatures, secret keys and session tokens replaced."""
    if not text:
        return text
    text = _shared(text)
    for name in _SECRET_ENV:
        value = os.environ.get(name, "")
        if len(value) >= _MIN_SECRET_LEN:
            text = text.replace(value, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text
