-- Operations bookkeeping: backups, their verifications (drills), maintenance runs, and the functions
-- postgres_exporter reads them through. The writer's group records them; the monitor login (a member
-- of pg_monitor) reads only the aggregated functions, never the tables.
SET LOCAL ROLE stockula_owner;

CREATE TABLE ops.backups (
  backup_id      text PRIMARY KEY,
  kind           text NOT NULL CHECK (kind IN ('full', 'incr', 'diff', 'logical')),
  status         text NOT NULL CHECK (status IN ('complete', 'failed', 'expired')),
  database_name  text NOT NULL,
  started_at     timestamptz NOT NULL,
  finished_at    timestamptz NOT NULL,
  size_bytes     bigint,
  repo_bytes     bigint,
  prior_id       text,
  location       text,
  restore_point  text,
  manifest       jsonb NOT NULL DEFAULT '{}'::jsonb,
  error          text,
  run_id         text
);
CREATE INDEX backups_kind_time_idx ON ops.backups (kind, finished_at DESC);
COMMENT ON TABLE ops.backups IS 'One row per backup attempt (physical set or logical dump), with its manifest.';

CREATE TABLE ops.backup_verifications (
  verification_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  backup_id       text NOT NULL,
  verified_at     timestamptz NOT NULL DEFAULT now(),
  method          text NOT NULL CHECK (method IN ('drill', 'repository')),
  passed          boolean NOT NULL,
  seconds         double precision,
  tables_checked  integer,
  mismatches      jsonb NOT NULL DEFAULT '[]'::jsonb,
  amcheck_indexes integer,
  amcheck_errors  integer,
  details         jsonb NOT NULL DEFAULT '{}'::jsonb,
  run_id          text
);
CREATE INDEX backup_verifications_time_idx ON ops.backup_verifications (verified_at DESC);
COMMENT ON TABLE ops.backup_verifications IS 'One row per verification of a backup (repository check or restore drill).';

CREATE TABLE ops.maintenance_log (
  maintenance_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  ran_at         timestamptz NOT NULL DEFAULT now(),
  task           text NOT NULL,
  seconds        double precision,
  changed        jsonb NOT NULL DEFAULT '[]'::jsonb,
  report         jsonb NOT NULL DEFAULT '{}'::jsonb,
  run_id         text
);
CREATE INDEX maintenance_log_task_time_idx ON ops.maintenance_log (task, ran_at DESC);
COMMENT ON TABLE ops.maintenance_log IS 'One row per maintenance task run: what it changed and what it found.';

-- For postgres_exporter (infra/config/postgres_exporter_queries.yml). SECURITY DEFINER so the monitor
-- login needs no grant on the tables; a fixed search_path keeps the definer's rights from being hijacked.
CREATE FUNCTION ops.metrics_backups()
RETURNS TABLE (kind text, last_success_timestamp_seconds double precision, last_size_bytes double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT k.kind,
         coalesce(extract(epoch FROM max(b.finished_at)), 0)::double precision,
         coalesce((array_agg(b.size_bytes ORDER BY b.finished_at DESC))[1], 0)::double precision
  FROM (VALUES ('full'), ('incr'), ('logical')) AS k (kind)
  LEFT JOIN ops.backups AS b ON b.kind = k.kind AND b.status = 'complete'
  GROUP BY k.kind
$$;

CREATE FUNCTION ops.metrics_drills()
RETURNS TABLE (last_success_timestamp_seconds double precision, last_passed double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(extract(epoch FROM (SELECT max(verified_at) FROM ops.backup_verifications
                                      WHERE method = 'drill' AND passed)), 0)::double precision,
         coalesce((SELECT passed::int FROM ops.backup_verifications WHERE method = 'drill'
                   ORDER BY verified_at DESC LIMIT 1), 0)::double precision
$$;

CREATE FUNCTION ops.metrics_freshness()
RETURNS TABLE (table_name text, last_loaded_timestamp_seconds double precision, rows_loaded_today double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT t.table_name,
         coalesce(extract(epoch FROM max(l.loaded_at)), 0)::double precision,
         coalesce(sum(l.rows_loaded + l.rows_updated) FILTER (WHERE l.loaded_at >= date_trunc('day', now())), 0)::double precision
  FROM (VALUES ('price_history'), ('options_calls'), ('options_puts'), ('dividends'), ('splits'), ('stocks'))
       AS t (table_name)
  LEFT JOIN ops.ingest_log AS l ON l.table_name = t.table_name
  GROUP BY t.table_name
$$;

CREATE FUNCTION ops.metrics_hypertables()
RETURNS TABLE (hypertable text, total_bytes double precision, chunks double precision, compressed_chunks double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
  SELECT format('%I.%I', h.hypertable_schema, h.hypertable_name),
         coalesce(public.hypertable_size(format('%I.%I', h.hypertable_schema, h.hypertable_name)::regclass), 0)::double precision,
         h.num_chunks::double precision,
         (SELECT count(*) FROM timescaledb_information.chunks AS c
          WHERE c.hypertable_schema = h.hypertable_schema AND c.hypertable_name = h.hypertable_name
            AND c.is_compressed)::double precision
  FROM timescaledb_information.hypertables AS h
$$;

CREATE FUNCTION ops.metrics_stocks()
RETURNS TABLE (count double precision, sectors double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT count(*)::double precision, count(DISTINCT sector)::double precision FROM market.stocks
$$;

REVOKE ALL ON FUNCTION ops.metrics_backups(), ops.metrics_drills(), ops.metrics_freshness(),
  ops.metrics_hypertables(), ops.metrics_stocks() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.metrics_backups(), ops.metrics_drills(), ops.metrics_freshness(),
  ops.metrics_hypertables(), ops.metrics_stocks() TO pg_monitor;
GRANT USAGE ON SCHEMA ops TO pg_monitor;
