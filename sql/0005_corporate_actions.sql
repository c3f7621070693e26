SET LOCAL ROLE stockula_owner;

CREATE TABLE market.dividends (
  time       timestamptz NOT NULL,
  symbol     text NOT NULL,
  ex_date    date NOT NULL,
  amount     double precision NOT NULL CHECK (amount > 0),
  source     text NOT NULL,
  loaded_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT dividends_pkey PRIMARY KEY (symbol, time)
);
-- A few thousand rows a year: one chunk per decade keeps the chunk count trivial.
SELECT create_hypertable('market.dividends', by_range('time', INTERVAL '3650 days'), create_default_indexes => false);
COMMENT ON TABLE market.dividends IS 'Cash dividends: one row per symbol per ex-date.';
COMMENT ON COLUMN market.dividends.time IS 'Ex-date at 00:00 exchange time (UTC).';
COMMENT ON COLUMN market.dividends.amount IS 'Cash per share in the listing currency.';

CREATE TABLE market.splits (
  time       timestamptz NOT NULL,
  symbol     text NOT NULL,
  ex_date    date NOT NULL,
  ratio      double precision NOT NULL CHECK (ratio > 0),
  source     text NOT NULL,
  loaded_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT splits_pkey PRIMARY KEY (symbol, time)
);
SELECT create_hypertable('market.splits', by_range('time', INTERVAL '3650 days'), create_default_indexes => false);
COMMENT ON TABLE market.splits IS 'Stock splits: one row per symbol per ex-date.';
COMMENT ON COLUMN market.splits.ratio IS 'New shares per old share: 4 for a 4-for-1 split, 0.1 for a 1-for-10 reverse split.';
