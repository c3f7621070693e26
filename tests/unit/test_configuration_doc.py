"""docs/configuration.md names every setting of settings.py (and nothing that is not one)."""

import re
from pathlib import Path

from stockula_pipelines.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
NOT_FIELDS = {"STOCKULA_HOME", "STOCKULA_TEST_DB"}  # read outside Settings


def test_every_setting_is_documented_with_a_default_and_a_meaning():
    rows = dict(re.findall(r"^\| `(STOCKULA_[A-Z0-9_]+)` \| (.+) \|$", DOC.read_text(), flags=re.M))
    fields = {f"STOCKULA_{name.upper()}" for name in Settings.model_fields}
    assert fields - rows.keys() == set()
    assert rows.keys() - fields - NOT_FIELDS == set()
    assert all(" | " in rest and rest.split(" | ")[-1].strip() for rest in rows.values())
