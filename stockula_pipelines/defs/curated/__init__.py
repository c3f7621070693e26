"""The dbt-like models of ``dbt_like_models/`` as Dagster assets (group ``curated`` by default)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from stockula_pipelines.defs.curated.assets import build_assets
from stockula_pipelines.defs.curated.translator import CuratedTranslator
from stockula_pipelines.lib.models import load_project
from stockula_pipelines.settings import project_dir

JOB_NAME = "curated_models_job"


def models_dir() -> Path:
    return project_dir() / "dbt_like_models"


def definitions(directory: Path | None = None, translator: CuratedTranslator | None = None) -> dg.Definitions:
    """The models' assets (named and grouped by ``translator``) and a job that rebuilds them all."""
    assets = build_assets(load_project(directory or models_dir()), translator)
    job = dg.define_asset_job(
        JOB_NAME, selection=dg.AssetSelection.assets(*assets),
        description="Rebuild every curated model in dependency order and run its tests.",
    )
    return dg.Definitions(assets=assets, jobs=[job])
