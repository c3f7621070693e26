SET LOCAL ROLE stockula_owner;

-- A snapshot's identity is its session (time = the close of snapshot_date); when the source was asked
-- is kept beside it, so a chain fetched late is visible rather than silently relabelled.
ALTER TABLE market.options_calls ADD COLUMN fetched_at timestamptz;
ALTER TABLE market.options_puts ADD COLUMN fetched_at timestamptz;
COMMENT ON COLUMN market.options_calls.fetched_at IS 'When the source returned this chain (UTC): after the close of snapshot_date, before the next session opens.';
COMMENT ON COLUMN market.options_puts.fetched_at IS 'When the source returned this chain (UTC): after the close of snapshot_date, before the next session opens.';

-- Which symbols a load really changed (rows that differ from what it replaced). Derived refreshes
-- restate only those; NULL (loads written before this column) means "assume every symbol".
ALTER TABLE ops.ingest_log ADD COLUMN symbols_changed text[];
-- Symbols the load asked for but left untouched because the source failed or returned nothing.
ALTER TABLE ops.ingest_log ADD COLUMN symbols_skipped text[] NOT NULL DEFAULT '{}';
COMMENT ON COLUMN ops.ingest_log.symbols_changed IS 'Symbols whose rows in the window differ after the load; NULL = unknown (treat all as changed).';
COMMENT ON COLUMN ops.ingest_log.symbols_skipped IS 'Symbols left out of the delete: the source failed or returned nothing for them.';

-- Which loads each derived target has processed. A max-id watermark skips a load whose id was taken
-- before a later id committed; an explicit set cannot.
CREATE TABLE ops.refresh_covered (
  target     text NOT NULL,
  ingest_id  bigint NOT NULL REFERENCES ops.ingest_log (ingest_id) ON DELETE CASCADE,
  refresh_id bigint NOT NULL REFERENCES ops.refresh_log (refresh_id) ON DELETE CASCADE,
  PRIMARY KEY (target, ingest_id)
);
COMMENT ON TABLE ops.refresh_covered IS 'One row per derived target per load it has processed.';
