"""``python -m example_service``: run the service standalone (see :mod:`example_service.cli`)."""

import sys

from example_service.cli import main

sys.exit(main())
