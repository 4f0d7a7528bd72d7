"""``python -m pytest_dualmode.cli``: same as the ``dualmode`` console script."""

import sys

from pytest_dualmode.cli import main

sys.exit(main())
