-- daily_return = position * (adjusted-close return over the previous priced bar) - turnover * costs;
-- on a symbol's first bar the position is flat and the return 0. The previous bar may lie before the
-- window (hence the lookback, longer than any exchange closure).
WITH bars AS (
  SELECT symbol, time, adj_close_price,
         lag(adj_close_price) OVER (PARTITION BY symbol ORDER BY time) AS prev_adj
  FROM market.price_history
  WHERE interval = '1d' AND adj_close_price IS NOT NULL
    AND time >= %(start)s - interval '15 days' AND time < %(end)s
),
rows AS (
  SELECT sp.daily_return,
         sp.position * coalesce(b.adj_close_price / b.prev_adj - 1, 0)
           - sp.turnover * (s.commission_bps + s.slippage_bps) / 1e4 AS expected
  FROM analytics.strategy_performance AS sp
  JOIN analytics.strategies AS s USING (strategy_id)
  JOIN bars AS b ON b.symbol = sp.symbol AND b.time = sp.time
  WHERE sp.time >= %(start)s AND sp.time < %(end)s
)
SELECT count(*) FILTER (WHERE daily_return IS NULL OR abs(daily_return - expected) > 1e-9 * greatest(1, abs(expected))),
       count(*)
FROM rows
