"""pytest-dualmode: one system-test suite, run locally, against staging, or inside the VPC from Lambda.

The user-facing names are re-exported here; everything heavy is imported lazily. ``LocalService`` and
``Target`` are built on first use: pytest imports this package on every run of every user, and
creating a frozen dataclass costs about half a millisecond.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from pytest_dualmode.settings import Settings

if TYPE_CHECKING:
    from pytest_dualmode.local.process_service import ProcessService
    from pytest_dualmode.local.service import LocalService
    from pytest_dualmode.target import Target

__all__ = ["LocalService", "ProcessService", "Settings", "Target"]
__version__ = "0.1.0"


def lazy_getattr(
    module: str, lazy: Mapping[str, str], namespace: MutableMapping[str, Any]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) for ``module``: a name of ``lazy`` is imported from the module
    it maps to on first access and kept in ``namespace`` (the module's globals); any other name is an
    AttributeError."""

    def __getattr__(name: str) -> Any:
        source = lazy.get(name)
        if source is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value = namespace[name] = getattr(importlib.import_module(source), name)
        return value

    return __getattr__


_LAZY = {
    "LocalService": "pytest_dualmode.local.service",
    "ProcessService": "pytest_dualmode.local.process_service",
    "Target": "pytest_dualmode.target",
}
__getattr__ = lazy_getattr(__name__, _LAZY, globals())  # LocalService and Target, built on first use


def __dir__() -> list[str]:
    """The module's names, the lazy ones included."""
    return sorted({*globals(), *_LAZY})
