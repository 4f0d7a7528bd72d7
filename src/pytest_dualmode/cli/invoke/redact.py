"""Redaction of secrets in text that ``dualmode invoke`` prints or writes (log tails, failure messages).

The handler already keeps secrets out of its results; this is the caller's second line of defence for
the free-form text a test may print (a logged request, a dumped environment): the project's redactor,
plus the exact values of this process's own AWS secrets.
"""

from __future__ import annotations

import os

from pytest_dualmode.sigv4.redact import environment_secrets
from pytest_dualmode.sigv4.redact import redact as _redact


def redact(text: str) -> str:
    """Return ``text`` with Authorization headers, signatures, secret keys and session tokens replaced."""
    return _redact(text, environment_secrets(os.environ)) if text else text
