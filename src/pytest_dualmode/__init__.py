"""pytest-dualmode: one system-test suite, run locally, against staging, or inside the VPC from Lambda.

The user-facing names are re-exported here; everything heavy is imported lazily.
"""

from pytest_dualmode.fixtures import Target
from pytest_dualmode.local.service import LocalService
from pytest_dualmode.settings import Settings

__all__ = ["LocalService", "Settings", "Target"]
__version__ = "0.1.0"
