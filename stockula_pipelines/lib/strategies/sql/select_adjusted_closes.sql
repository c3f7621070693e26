-- The whole adjusted-close history of the symbols to backtest (bars price_metrics has not filled yet are left out).
SELECT symbol, date, time, adj_close_price
FROM market.price_history
WHERE interval = '1d' AND symbol = ANY(%(symbols)s::text[]) AND adj_close_price IS NOT NULL
ORDER BY symbol, time
