"""Reading one file of the files source: every column as text, each parsed with errors that point at
the file, the line (CSV, header = line 1) or row (parquet, 1-based), the column and the value."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from stockula_pipelines.lib.sources.base import SourceError

MISSING = ("", "null", "nan", "none", "n/a")


class FilesSourceError(SourceError):
    """A file of the files source is missing a column or holds a value that does not parse."""


class Table:
    """A file read with every column as text, remembering how to point at one of its rows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            if path.suffix == ".parquet":
                frame = pl.read_parquet(path)
                self.frame = frame.with_columns(
                    pl.col(c).dt.strftime("%Y-%m-%d %H:%M:%S%.f%z") if isinstance(t, pl.Datetime) else
                    pl.col(c).cast(pl.String) for c, t in frame.schema.items()
                )
            else:
                self.frame = pl.read_csv(path, infer_schema=False, truncate_ragged_lines=False)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise FilesSourceError(f"{path}: unreadable: {exc}", source="files") from exc

    def where(self, index: int) -> str:
        return f"row {index + 1}" if self.path.suffix == ".parquet" else f"line {index + 2}"

    def require(self, *columns: str) -> None:
        missing = [c for c in columns if c not in self.frame.columns]
        if missing:
            raise FilesSourceError(
                f"{self.path}: missing column(s) {', '.join(missing)} (has {', '.join(self.frame.columns)})",
                source="files")

    def parse(self, column: str, parsed: pl.Series, what: str) -> pl.Series:
        """Fail on the first cell that is present but did not parse; return ``parsed``."""
        raw = self.frame[column].str.strip_chars()
        present = raw.is_not_null() & ~raw.str.to_lowercase().is_in(MISSING)
        bad = (present & parsed.is_null()).arg_true()
        if len(bad):
            i = int(bad[0])
            raise FilesSourceError(
                f"{self.path}: {self.where(i)}, column {column}: cannot parse {raw[i]!r} as {what}",
                source="files")
        return parsed

    def floats(self, column: str) -> pl.Series:
        raw = self.frame[column].str.strip_chars()
        return self.parse(column, raw.cast(pl.Float64, strict=False), "a number")

    def dates(self, column: str) -> pl.Series:
        raw = self.frame[column].str.strip_chars().str.slice(0, 10)
        return self.parse(column, raw.str.to_date("%Y-%m-%d", strict=False), "a date (YYYY-MM-DD)")

    def datetimes(self, column: str) -> pl.Series:
        raw = self.frame[column].str.strip_chars().str.replace("T", " ").str.replace(r"Z$", "+00:00")
        aware = raw.str.to_datetime("%Y-%m-%d %H:%M:%S%.f%z", time_zone="UTC", strict=False)
        naive = raw.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False)
        naive_rows = (aware.is_null() & naive.is_not_null()).arg_true()
        if len(naive_rows):
            i = int(naive_rows[0])
            raise FilesSourceError(
                f"{self.path}: {self.where(i)}, column {column}: naive timestamp {raw[i]!r}; "
                "add its UTC offset (e.g. -05:00)", source="files")
        return self.parse(column, aware, "a timestamp with a UTC offset")

    def ratios(self, column: str) -> pl.Series:
        raw = self.frame[column].str.strip_chars()
        pair = raw.str.extract_groups(r"^([0-9.]+)\s*[:/]\s*([0-9.]+)$")
        num = pair.struct.field("1").cast(pl.Float64, strict=False)
        den = pair.struct.field("2").cast(pl.Float64, strict=False)
        ratio = pl.select(
            pl.when(den.is_not_null() & (den != 0)).then(num / den)
            .otherwise(raw.cast(pl.Float64, strict=False))
        ).to_series()
        return self.parse(column, ratio, "a split ratio like 4:1 or 4.0")

    def booleans(self, column: str) -> pl.Series:
        raw = self.frame[column].str.strip_chars().str.to_lowercase()
        parsed = raw.replace_strict({"true": True, "1": True, "false": False, "0": False},
                                    default=None, return_dtype=pl.Boolean)
        return self.parse(column, parsed, "true/false")
