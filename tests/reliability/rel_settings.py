"""Hypothesis settings for the suite's properties: bounded, reproducible by default, scalable on demand.

``DUALMODE_FUZZ_EXAMPLES=N`` multiplies every property's example count; ``DUALMODE_FUZZ_RANDOM=1`` draws new
random examples instead of the fixed (derandomized) ones a CI run uses, so CI never flakes on a new draw.
Nothing is written to a Hypothesis database in the work tree.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import settings

MULTIPLIER = float(os.environ.get("DUALMODE_FUZZ_EXAMPLES") or 1)
RANDOM = os.environ.get("DUALMODE_FUZZ_RANDOM") == "1"


def fuzz_settings(max_examples: int, **options: Any) -> settings:
    """Settings for one property: ``max_examples`` (times the multiplier), no deadline, no database."""
    return settings(
        max_examples=max(1, int(max_examples * MULTIPLIER)),
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        print_blob=True,
        **options,
    )
