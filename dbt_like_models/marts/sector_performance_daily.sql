WITH bars AS (
    SELECT * FROM curated.adjusted_daily_bars
),

per_sector AS (
    SELECT
        trading_date,
        sector,
        count(*)::integer AS symbols_count,
        (count(*) FILTER (WHERE daily_return > 0))::integer AS advancers,
        (count(*) FILTER (WHERE daily_return < 0))::integer AS decliners,
        avg(daily_return) AS avg_return,
        sum(volume)::bigint AS total_volume,
        sum(trading_value) AS total_trading_value,
        avg(volatility) AS avg_volatility
    FROM bars
    GROUP BY trading_date, sector
)

SELECT * FROM per_sector
