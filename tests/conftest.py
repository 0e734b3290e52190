"""Suite-wide settings.

Hypothesis draws the same examples on every run (``derandomize``: seeded from each test), so a
change is judged on the same cases on every machine and every run of ``make test``;
``HYPOTHESIS_PROFILE=explore make test`` draws fresh random examples to look for new failures.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
