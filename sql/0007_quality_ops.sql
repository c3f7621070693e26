SET LOCAL ROLE stockula_owner;

-- Rows refused by validation before a load, with the rule that refused them. Kept until resolved.
CREATE TABLE quality.quarantine (
  quarantine_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  quarantined_at timestamptz NOT NULL DEFAULT now(),
  table_name     text NOT NULL,
  rule           text NOT NULL,
  symbol         text,
  time           timestamptz,
  detail         text NOT NULL,
  row_data       jsonb NOT NULL,
  run_id         text,
  partition_key  text,
  resolved_at    timestamptz,
  resolution     text
);
CREATE INDEX quarantine_open_idx ON quality.quarantine (table_name, rule, symbol) WHERE resolved_at IS NULL;
COMMENT ON TABLE quality.quarantine IS 'Rejected rows: one row per refused input row and load.';

-- What analysts and Grafana may see of the quarantine: counts, never the rows.
CREATE VIEW quality.quarantine_summary AS
SELECT table_name, rule, symbol, (time AT TIME ZONE 'America/New_York')::date AS trading_date,
       count(*) AS rows_quarantined, min(quarantined_at) AS first_seen, max(quarantined_at) AS last_seen
FROM quality.quarantine
WHERE resolved_at IS NULL
GROUP BY 1, 2, 3, 4;
GRANT SELECT ON quality.quarantine_summary TO stockula_read;

CREATE TABLE quality.data_quality_results (
  result_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  checked_at     timestamptz NOT NULL DEFAULT now(),
  asset_key      text NOT NULL,
  check_name     text NOT NULL,
  severity       text NOT NULL CHECK (severity IN ('ERROR', 'WARN')),
  passed         boolean NOT NULL,
  window_start   timestamptz,
  window_end     timestamptz,
  partition_key  text,
  observed_value double precision,
  failing_count  bigint,
  total_count    bigint,
  details        jsonb NOT NULL DEFAULT '{}'::jsonb,
  run_id         text
);
CREATE INDEX data_quality_results_lookup_idx ON quality.data_quality_results (asset_key, check_name, checked_at DESC);
GRANT SELECT ON quality.data_quality_results TO stockula_read;
COMMENT ON TABLE quality.data_quality_results IS 'One row per check per checked window per run.';

-- Every load records the half-open window it replaced, in the same transaction as the rows.
CREATE TABLE ops.ingest_log (
  ingest_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  loaded_at        timestamptz NOT NULL DEFAULT now(),
  table_name       text NOT NULL,
  interval         text,
  window_start     timestamptz NOT NULL,
  window_end       timestamptz NOT NULL CHECK (window_end > window_start),
  symbols          text[] NOT NULL,
  mode             text NOT NULL CHECK (mode IN ('replace', 'upsert')),
  rows_deleted     bigint NOT NULL DEFAULT 0,
  rows_loaded      bigint NOT NULL DEFAULT 0,
  rows_updated     bigint NOT NULL DEFAULT 0,
  rows_quarantined bigint NOT NULL DEFAULT 0,
  source           text,
  run_id           text,
  partition_key    text
);
CREATE INDEX ingest_log_table_time_idx ON ops.ingest_log (table_name, loaded_at DESC);
COMMENT ON TABLE ops.ingest_log IS 'One row per load: the [window_start, window_end) it touched and its row counts.';

-- Watermarks: how far each aggregate/derived asset has processed the ingest log.
CREATE TABLE ops.refresh_log (
  refresh_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  refreshed_at  timestamptz NOT NULL DEFAULT now(),
  target        text NOT NULL,
  window_start  timestamptz NOT NULL,
  window_end    timestamptz NOT NULL,
  method        text NOT NULL,
  rows_written  bigint,
  -- the highest ops.ingest_log.ingest_id this refresh covered: the next run starts after it
  last_ingest_id bigint,
  run_id        text
);
CREATE INDEX refresh_log_target_idx ON ops.refresh_log (target, refreshed_at DESC);
