"""Shared test configuration: hypothesis profiles ("dev" by default, "ci" derandomized).

Select one with ``HYPOTHESIS_PROFILE=ci pytest``. Example counts are set per test where a
test needs a minimum (the differential tests run at least 1,000 cases in every profile).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

__all__: list[str] = []

# tests/ helpers (reference.py, strategies.py) import as plain modules.
sys.path.insert(0, str(Path(__file__).parent))

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile("dev", deadline=None, suppress_health_check=_SLOW_OK)
settings.register_profile(
    "ci", deadline=None, derandomize=True, print_blob=True, suppress_health_check=_SLOW_OK,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
