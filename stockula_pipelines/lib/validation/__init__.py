"""Data validation: row rules applied before loading (:mod:`.ingest`)."""

from stockula_pipelines.lib.validation.ingest import (
    REJECTED_SCHEMA,
    RULES,
    SYMBOL_PATTERN,
    ValidationResult,
    validate,
)

__all__ = ["REJECTED_SCHEMA", "RULES", "SYMBOL_PATTERN", "ValidationResult", "validate"]
