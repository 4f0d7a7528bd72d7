"""Keep secrets out of output: the project's one redactor, used by the plugin, the Lambda handler and
``dualmode invoke``.

What is masked (the value becomes ``[REDACTED]``):
- the exact values the caller knows to be secret (``known``): the run's generated local secret, every
  secret key and session token its signer used, the process's own AWS secret variables;
- ``Authorization`` values, as header lines, ``key: value`` / ``key=value`` pairs, dict and JSON
  items, gRPC metadata tuples; and any ``AWS4-HMAC-SHA256 Credential=...`` value wherever it is;
- signatures (``Signature=<hex>``, ``X-Amz-Signature=<hex>``);
- ``X-Amz-Security-Token`` values (the session token a signed request carries);
- with ``guess=True`` only: values labelled as secret (``aws_session_token``, ``aws_secret_access_key``,
  ``secret`` and the like), and unlabelled values that look secret: AWS STS session tokens by their
  well-known prefixes, and 40-character AWS-secret-looking words (base64 letters mixing upper case,
  lower case and digits).

The plugin redacts pytest's reports without guessing (:func:`redact_report`): in a dualmode run it
knows every secret it holds, and guessing would rewrite a test's own data in its assertion text (a
test's ``{"secret": "x"}`` stays readable; only what this run signs with or sends is masked).
The Lambda handler (:class:`Redactor`, :class:`RedactingStream`) and ``dualmode invoke``
(:func:`redact_local`) guess as well: their output leaves the machine (CloudWatch, the caller's
terminal) and carries whatever a whole suite printed, so a second net is worth the odd false mask.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TextIO

import pytest

if TYPE_CHECKING:
    from pytest_dualmode.sigv4.signer import Signer

MASK = "[REDACTED]"
# Where the running process keeps its own secrets (Lambda puts the role's session credentials here).
SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")

# What a signed request carries: masked always. The other labels only hint at a secret: masked when guessing.
_SIGNING_KEYS = r"authorization|proxy-authorization|x-amz-security-token|x-amz-signature|signature"
_HINTING_LABELS = (
    r"x-amz-content-sha256-secret|aws_secret_access_key|secret_access_key|secretaccesskey|aws_session_token"
    r"|session_token|sessiontoken|security_token|securitytoken|secret_key|secretkey|secret"
)


def _labelled(keys: str) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """The patterns of values labelled with one of ``keys``: quoted, header lines, bare."""
    # 'key': 'value', "key": "value", ('key', 'value'), key='value', Metadatum(key='key', value='value')
    quoted = re.compile(
        rf"""(?ix)
        (?P<head>(?P<kq>["']?)\b(?:{keys})\b(?P=kq)
            \s*(?:[:=,]|,\s*value\s*=)\s*)
        (?P<q>["'])(?P<value>(?:\\.|(?!(?P=q)).)*)(?P=q)
        """
    )
    # Authorization: AWS4-HMAC-SHA256 ... (a header line: the value runs to the end of the line)
    header_line = re.compile(rf"(?im)^(?P<head>[ \t>]*(?:{keys})[ \t]*:[ \t]*)(?P<value>[^\r\n]+)")
    # key=value / key: value unquoted (environment, query strings, logs); bare "signature" is left to
    # _SIGNATURE, since prose such as "signature: mismatch" is common and not secret.
    bare = re.compile(rf"(?i)(?P<head>\b(?!signature\b)(?:{keys})\b\s*[=:]\s*)(?P<value>[^\s'\"&,;)\]}}]+)")
    return quoted, header_line, bare


_STRICT = _labelled(_SIGNING_KEYS)
_GUESSING = _labelled(f"{_SIGNING_KEYS}|{_HINTING_LABELS}")
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


def redact(text: str, extra: Iterable[str] = (), *, guess: bool = True) -> str:
    """``text`` with the ``extra`` values, Authorization values, signatures and security tokens masked;
    ``guess`` also masks values labelled as secret and unlabelled secret-looking ones (see the module
    docstring)."""
    for value in sorted((v for v in extra if v and len(v) >= 4), key=len, reverse=True):
        text = text.replace(value, MASK)
    text = _SIGV4_VALUE.sub(f"AWS4-HMAC-SHA256 {MASK}", text)
    for pattern in _GUESSING if guess else _STRICT:
        text = pattern.sub(_mask_value, text)
    text = _SIGNATURE.sub(lambda m: m.group("head") + MASK, text)
    if not guess:
        return text
    text = _STS_TOKEN.sub(MASK, text)
    return _SECRET_LIKE.sub(_mask_secret_like, text)


def environment_secrets(environ: Mapping[str, str]) -> list[str]:
    """The values of the secret AWS variables in ``environ`` (8 characters or more), to pass as ``extra``."""
    return [v for v in (environ.get(name, "") for name in SECRET_VARIABLES) if len(v) >= 8]


# --header names whose values are credentials, and values that look like keys whatever their name.
_CREDENTIAL_NAME = re.compile(r"key|token|secret|auth|session|signature|password|cookie|credential", re.I)
_KEY_LIKE = re.compile(r"[A-Za-z0-9+/=_.-]{16,}")


def header_secrets(headers: Iterable[tuple[str, str]]) -> list[str]:
    """The values of ``headers`` (``--header`` pairs) to mask: those of credential-like names (an API
    key), and key-like values whatever their name."""
    return [v for name, v in headers if v and (_CREDENTIAL_NAME.search(name) or _KEY_LIKE.fullmatch(v))]


def redact_local(text: str) -> str:
    """``text`` redacted (guessing too) with this process's own AWS secrets as known values."""
    return redact(text, environment_secrets(os.environ)) if text else text


class Redactor:
    """Redact text (guessing too) with the secret values found in ``environ`` as known values."""

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


class RunSecrets:
    """The secrets one pytest run holds, for :func:`redact_report`: fixed values, and sources asked each
    time (a signer whose refreshing credentials rotate during the run)."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._signers: list[Signer] = []

    def add(self, *values: str | None) -> None:
        """Remember ``values`` (empty ones are ignored)."""
        self._values.update(v for v in values if v)

    def add_signer(self, signer: Signer) -> None:
        """Remember every secret key and session token ``signer`` has used or will use."""
        self._signers.append(signer)

    def values(self) -> list[str]:
        """Every known secret value, the process's current AWS secret variables included."""
        found = {*self._values, *environment_secrets(os.environ)}
        for signer in self._signers:
            found.update(signer.used_secrets())
        return sorted(found)


_RUN_SECRETS = pytest.StashKey[RunSecrets]()


def run_secrets(config: pytest.Config) -> RunSecrets:
    """The :class:`RunSecrets` of this pytest run (created on first use)."""
    if _RUN_SECRETS not in config.stash:
        config.stash[_RUN_SECRETS] = RunSecrets()
    return config.stash[_RUN_SECRETS]


def redact_report(config: pytest.Config, report: pytest.TestReport | pytest.CollectReport) -> None:
    """Mask this run's secrets in a report's failure text and captured output, in place, before anything
    prints or stores it (terminal, JUnit XML and Lambda results all read the report)."""
    if not report.longrepr and not report.sections:
        return
    known = run_secrets(config).values()
    if report.longrepr:
        text = str(report.longrepr)
        masked = redact(text, known, guess=False)
        if masked != text:
            report.longrepr = masked
    report.sections = [(title, redact(content, known, guess=False)) for title, content in report.sections]
