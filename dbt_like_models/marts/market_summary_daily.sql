WITH bars AS (
    SELECT * FROM curated.adjusted_daily_bars
),

breadth AS (
    SELECT
        trading_date,
        count(*)::integer AS symbols_count,
        -- A bar without a return (a symbol's first) counts in symbols_count only.
        (count(*) FILTER (WHERE daily_return > 0))::integer AS advancers,
        (count(*) FILTER (WHERE daily_return < 0))::integer AS decliners,
        (count(*) FILTER (WHERE daily_return = 0))::integer AS unchanged,
        sum(volume)::bigint AS total_volume,
        sum(trading_value) AS total_trading_value,
        avg(daily_return) AS avg_return,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY daily_return) AS median_return,
        avg(volatility) AS avg_volatility
    FROM bars
    GROUP BY trading_date
)

SELECT * FROM breadth
