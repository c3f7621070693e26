-- Bars whose close moved more than 30 % from the same symbol's previous bar (same interval) while no
-- split went ex between the two bars. {batch} is the validated window: every bar of one interval in
-- [start, end). The previous bar is the one before inside the window (lag) or, for a symbol's first
-- bar, its latest bar in the ten days before the window: one range scan over the chunks those days
-- touch instead of one index probe per symbol across every chunk. A previous bar older than that is
-- a gap, which no_missing_trading_days already fails (holidays never close the exchange that long).
-- Every {batch} has an alias: great-expectations pastes it unaliased where the query has a JOIN,
-- which PostgreSQL 15 refuses.
WITH bars AS (
  SELECT symbol, interval, time, date, close_price,
         lag(close_price) OVER s AS lag_close, lag(date) OVER s AS lag_date
  FROM {batch} AS w
  WINDOW s AS (PARTITION BY symbol COLLATE "C", interval COLLATE "C" ORDER BY time)
),
before AS (
  SELECT DISTINCT ON (p.symbol, p.interval) p.symbol, p.interval, p.close_price, p.date
  FROM market.price_history AS p
  WHERE p.time < (SELECT min(w.time) FROM {batch} AS w)
    AND p.time >= (SELECT min(w.time) FROM {batch} AS w) - interval '10 days'
    AND p.interval = (SELECT min(w.interval) FROM {batch} AS w)
  ORDER BY p.symbol, p.interval, p.time DESC
),
pairs AS (
  SELECT b.symbol, b.interval, b.time, b.date, b.close_price,
         coalesce(b.lag_close, p.close_price) AS previous_close,
         coalesce(b.lag_date, p.date) AS previous_date
  FROM bars AS b
  LEFT JOIN before AS p ON b.lag_close IS NULL AND p.symbol = b.symbol AND p.interval = b.interval
)
SELECT symbol, interval, time, close_price, previous_close
FROM pairs
WHERE previous_close IS NOT NULL
  AND abs(close_price / previous_close - 1) > 0.30
  AND NOT EXISTS (
    SELECT 1 FROM market.splits AS s
    WHERE s.symbol = pairs.symbol AND s.ex_date > pairs.previous_date AND s.ex_date <= pairs.date
  )
