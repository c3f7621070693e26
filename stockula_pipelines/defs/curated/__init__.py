"""The dbt-like models of ``dbt_like_models/`` as Dagster assets in the ``curated`` group."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from stockula_pipelines.defs.curated.assets import GROUP, build_assets
from stockula_pipelines.lib.models import load_project
from stockula_pipelines.settings import project_dir

curated_job = dg.define_asset_job(
    "curated_models_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="Rebuild every curated model in dependency order and run its tests.",
)


def models_dir() -> Path:
    return project_dir() / "dbt_like_models"


def definitions(directory: Path | None = None) -> dg.Definitions:
    project = load_project(directory or models_dir())
    return dg.Definitions(assets=build_assets(project), jobs=[curated_job])
