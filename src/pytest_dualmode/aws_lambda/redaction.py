"""Keep secrets out of results and logs: a redactor for text and a redacting stream for pytest's output.

The project's redactor (``pytest_dualmode.sigv4.redact.redact``) is used when it is importable; a small local
set of patterns stands in for it otherwise. On top of either, the literal values of the AWS secret variables
in the environment (Lambda puts the role's session credentials there) are replaced wherever they appear.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping
from typing import Any, TextIO

MARK = "[REDACTED]"
SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")

_FALLBACK = (
    # Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...
    (re.compile(r"(?i)(\bauthorization['\"]?\s*[:=]\s*['\"]?)[^\r\n'\"]+"), r"\1" + MARK),
    (re.compile(r"(?i)(\bx-amz-security-token['\"]?\s*[:=]\s*['\"]?)[^\s'\",;&]+"), r"\1" + MARK),
    (re.compile(r"(?i)(\b(?:x-amz-)?signature=)[0-9a-f]{16,}"), r"\1" + MARK),
    (
        re.compile(
            r"(?i)(\b(?:aws_secret_access_key|aws_session_token|aws_security_token|secret_?access_?key|"
            r"session_?token)['\"]?\s*[:=]\s*['\"]?)[^\s'\",;}]+"
        ),
        r"\1" + MARK,
    ),
)


def fallback_redact(text: str) -> str:
    """The minimal local redaction: Authorization values, security tokens, signatures, secret keys."""
    for pattern, repl in _FALLBACK:
        text = pattern.sub(repl, text)
    return text


def _shared_redactor() -> Callable[[str], str] | None:
    try:
        from pytest_dualmode.sigv4.redact import redact  # type: ignore[import-not-found,unused-ignore]
    except Exception:  # not written yet, or broken: the local patterns still apply
        return None
    return redact  # type: ignore[no-any-return,unused-ignore]


class Redactor:
    """Redact text with the shared redactor (or the fallback) plus the secret values found in ``environ``."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._shared = _shared_redactor()
        # Longest first, so a token that contains a key is replaced whole.
        values = {environ.get(name, "") for name in SECRET_VARIABLES}
        self._literals = sorted((v for v in values if len(v) >= 8), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        """Return ``text`` with every secret replaced by ``[REDACTED]``."""
        if not text:
            return text
        redacted = None
        if self._shared is not None:
            try:
                redacted = self._shared(text)
            except Exception:
                redacted = None
        text = fallback_redact(text) if not isinstance(redacted, str) else redacted
        for value in self._literals:
            if value in text:
                text = text.replace(value, MARK)
        return text


class RedactingStream:
    """A text stream that redacts whole lines before passing them on, and keeps the last ``tail`` characters.

    pytest's terminal output goes through it during a run (the log in CloudWatch). Lines are held until their
    newline so that a secret split across two writes is still caught; :meth:`close` writes what is left.
    """

    def __init__(self, target: TextIO, redact: Callable[[str], str], tail: int = 16_384) -> None:
        self._target = target
        self._redact = redact
        self._pending = ""
        self._tail = ""
        self._tail_size = tail

    def write(self, text: str) -> int:
        """Write the complete lines of ``pending + text``, redacted; hold the rest."""
        self._pending += text
        if "\n" in self._pending or len(self._pending) > 65_536:
            cut = self._pending.rfind("\n") + 1 or len(self._pending)
            self._emit(self._pending[:cut])
            self._pending = self._pending[cut:]
        return len(text)

    def _emit(self, text: str) -> None:
        text = self._redact(text)
        self._tail = (self._tail + text)[-self._tail_size :]
        with contextlib.suppress(OSError, ValueError):  # a closed or broken log must not fail the run
            self._target.write(text)

    def writelines(self, lines: Any) -> None:
        """Write each line."""
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Flush the target (held partial lines stay until their newline or :meth:`close`)."""
        with contextlib.suppress(OSError, ValueError):
            self._target.flush()

    def close(self) -> None:
        """Write the held partial line and flush; the target stays open."""
        if self._pending:
            self._emit(self._pending)
            self._pending = ""
        self.flush()

    @property
    def tail(self) -> str:
        """The last characters written (already redacted)."""
        return self._tail + self._redact(self._pending)

    def isatty(self) -> bool:
        """Never a terminal: pytest writes no colour codes into the log."""
        return False

    def __getattr__(self, name: str) -> Any:  # fileno, encoding, errors, buffer... from the real stream
        return getattr(self._target, name)
