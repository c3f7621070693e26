"""Strategies as data (the catalogue) and their backtests kept current in the database."""
