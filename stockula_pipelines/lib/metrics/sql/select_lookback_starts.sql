-- For each symbol, the time of the n-th daily bar before %(start)s: the lookback a rolling window needs.
SELECT s.symbol,
       (SELECT min(b.time)
        FROM (SELECT p.time FROM market.price_history p
              WHERE p.symbol = s.symbol AND p.interval = '1d' AND p.time < %(start)s
              ORDER BY p.time DESC LIMIT %(n)s) AS b) AS lookback_start
FROM unnest(%(symbols)s::text[]) AS s(symbol)
