"""Errors of the model runner. Every message names the file (and model, column, test) at fault."""

from __future__ import annotations


class ModelError(ValueError):
    """Base class: a model project that cannot be planned or run."""


class ModelConfigError(ModelError):
    """A model's .yml is malformed, names an unknown test or disagrees with its .sql."""


class ModelSqlError(ModelError):
    """A model's .sql does not parse, is not one SELECT, or reads something it may not."""


class ModelCycleError(ModelError):
    """The models read each other in a cycle."""


class ModelColumnsError(ModelError):
    """The materialised relation's columns differ from the columns its .yml documents."""
