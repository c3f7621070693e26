CREATE TEMP TABLE staging_price_metrics (
  symbol text NOT NULL,
  time timestamptz NOT NULL,
  adj_close_price double precision,
  daily_return double precision,
  volatility double precision
) ON COMMIT DROP
