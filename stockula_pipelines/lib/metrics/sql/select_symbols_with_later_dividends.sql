-- Symbols with a dividend going ex after %(start)s: its factor uses "the close before the ex-date",
-- which a bar loaded at or after %(start)s may be (or may replace), so their whole history is restated.
SELECT DISTINCT symbol FROM market.dividends WHERE time > %(start)s AND symbol = ANY(%(symbols)s)
