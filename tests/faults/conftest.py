"""The fault suite runs on the real local stack and the migrated test database of tests/conftest.py,
and reuses the deterministic loads of tests/integration/ops_support.py."""

from __future__ import annotations

import sys
from pathlib import Path

# ops_support lives beside the integration tests, which pytest puts on sys.path only when it collects them.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
