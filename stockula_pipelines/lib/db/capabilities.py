"""What the connected TimescaleDB can do.

The Apache edition (Debian's build, some clouds) has hypertables and time_bucket but no continuous
aggregates, compression or policies; the full edition (license ``timescale``) has all of them. Callers
branch on :class:`Capabilities`, never on version strings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import psycopg


@dataclass(frozen=True)
class Capabilities:
    postgres_version: str
    timescaledb_version: str | None  # None: extension not created in this database yet
    timescaledb_available: str | None  # default version the server could install
    license: str | None  # 'apache' or 'timescale'

    @property
    def edition(self) -> str:
        if self.license == "timescale":
            return "tsl"
        if self.license == "apache":
            return "apache"
        return "none"

    @property
    def full_edition(self) -> bool:
        return self.edition == "tsl"

    @property
    def continuous_aggregates(self) -> bool:
        return self.full_edition

    @property
    def compression(self) -> bool:
        return self.full_edition

    @property
    def policies(self) -> bool:
        return self.full_edition

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = asdict(self)
        out.update(
            edition=self.edition,
            continuous_aggregates=self.continuous_aggregates,
            compression=self.compression,
            policies=self.policies,
        )
        return out


def detect(conn: psycopg.Connection) -> Capabilities:
    row = conn.execute(
        """
        SELECT current_setting('server_version'),
               (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'),
               (SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'),
               current_setting('timescaledb.license', true)
        """
    ).fetchone()
    assert row is not None
    return Capabilities(postgres_version=row[0], timescaledb_version=row[1], timescaledb_available=row[2],
                        license=row[3] or None)
