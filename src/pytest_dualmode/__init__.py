"""pytest-dualmode: one system-test suite, run locally, against staging, or inside the VPC from Lambda.

The user-facing names are re-exported here; everything heavy is imported lazily. ``LocalService`` and
``Target`` are built on first use: pytest imports this package on every run of every user, and
creating a frozen dataclass costs about half a millisecond.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pytest_dualmode.settings import Settings

if TYPE_CHECKING:
    from pytest_dualmode.local.service import LocalService
    from pytest_dualmode.target import Target

__all__ = ["LocalService", "Settings", "Target"]
__version__ = "0.1.0"

_LAZY = {"LocalService": "pytest_dualmode.local.service", "Target": "pytest_dualmode.target"}


def __getattr__(name: str) -> Any:
    """``LocalService`` and ``Target``, imported on first access."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, the lazy ones included."""
    return sorted({*globals(), *_LAZY})
