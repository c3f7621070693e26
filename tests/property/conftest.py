"""Hypothesis settings of the property suite: a fixed seed (derandomize), bounded examples, no deadline
(the machine is shared), and no example database written into the checkout.

``HYPOTHESIS_PROFILE=deep`` runs the same properties with more examples, still derandomised.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "derandomize": True,
    "deadline": None,
    "database": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
}
settings.register_profile("stockula", max_examples=100, **_COMMON)
settings.register_profile("deep", max_examples=2000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "stockula"))

