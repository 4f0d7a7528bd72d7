"""The value of the ``dualmode_target`` fixture: where the suite runs."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_dualmode.settings import Settings


@dataclass(frozen=True)
class Target:
    """Where the suite runs: ``mode`` is ``"local"`` or ``"remote"``; remote addresses as configured."""

    mode: str
    grpc_addr: str | None
    http_url: str | None
    grpc_tls: bool
    settings: Settings

    @property
    def is_local(self) -> bool:
        """True in local mode."""
        return self.mode == "local"

    @property
    def is_remote(self) -> bool:
        """True in remote mode."""
        return self.mode == "remote"
