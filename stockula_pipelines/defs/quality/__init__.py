"""Data quality: asset checks (GE suites + calendar), freshness, quarantine report and re-submission."""

import dagster as dg

from stockula_pipelines.defs.quality import checks, derived_checks, freshness, quarantine


def definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=[quarantine.quarantine_report],
        asset_checks=[*checks.ingestion_checks(), *derived_checks.derived_checks(), *freshness.freshness_checks()],
        jobs=[freshness.freshness_job, quarantine.resubmit_quarantine_job],
        schedules=[freshness.freshness_schedule],
    )
