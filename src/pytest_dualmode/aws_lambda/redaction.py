"""Keep secrets out of results and logs: a redactor for text and a redacting stream for pytest's output.

Both use the project's redactor (:func:`pytest_dualmode.sigv4.redact.redact`), plus the literal values of
the AWS secret variables in the environment (Lambda puts the role's session credentials there).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from pytest_dualmode.sigv4.redact import MASK, environment_secrets, redact

__all__ = ["MASK", "RedactingStream", "Redactor"]


class Redactor:
    """Redact text with the project's redactor plus the secret values found in ``environ``."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._extra = environment_secrets(environ)

    def __call__(self, text: str) -> str:
        """Return ``text`` with every secret replaced by ``[REDACTED]``."""
        return redact(text, self._extra) if text else text


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
