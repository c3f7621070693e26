-- Qualified: TimescaleDB's functions live in public, which the login roles' search_path leaves out.
CALL public.refresh_continuous_aggregate(%(cagg)s::regclass, %(start)s::timestamptz, %(end)s::timestamptz)
