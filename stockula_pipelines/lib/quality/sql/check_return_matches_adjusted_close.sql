-- A daily_return, where present, must be the simple return of adj_close_price over the symbol's
-- previous daily bar; it is NULL on the first bar, and also where a bar is missing in between (a
-- multi-day move is not a daily return). The previous bar may lie before the window, hence the
-- lookback (longer than any exchange closure).
WITH bars AS (
  SELECT symbol, time, daily_return, adj_close_price,
         lag(adj_close_price) OVER (PARTITION BY symbol ORDER BY time) AS prev_adj
  FROM market.price_history
  WHERE interval = '1d' AND time >= %(start)s - interval '15 days' AND time < %(end)s
)
SELECT count(*) FILTER (
         WHERE (prev_adj IS NULL AND daily_return IS NOT NULL)
            OR abs(daily_return - (adj_close_price / prev_adj - 1)) > 1e-9 * greatest(1, abs(daily_return))),
       count(*)
FROM bars
WHERE time >= %(start)s
