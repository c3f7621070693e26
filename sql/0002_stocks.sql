SET LOCAL ROLE stockula_owner;

CREATE TABLE market.stocks (
  symbol      text PRIMARY KEY CHECK (char_length(symbol) BETWEEN 1 AND 32),
  name        text,
  sector      text,
  industry    text,
  market_cap  bigint CHECK (market_cap IS NULL OR market_cap >= 0),
  exchange    text,
  currency    text,
  source      text NOT NULL DEFAULT 'unknown',
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE market.stocks IS 'Reference data: one row per listed symbol.';
CREATE INDEX stocks_sector_idx ON market.stocks (sector);
