WITH bars AS (
    SELECT * FROM curated.adjusted_daily_bars
),

ranked AS (
    SELECT
        symbol,
        trading_date,
        close_price,
        adj_close_price,
        daily_return,
        row_number() OVER (PARTITION BY symbol ORDER BY trading_date) AS day_from_start,
        row_number() OVER (PARTITION BY symbol ORDER BY trading_date DESC) AS day_from_end,
        -- Drawdown: distance below the running peak of the adjusted close.
        adj_close_price / max(adj_close_price) OVER (
            PARTITION BY symbol ORDER BY trading_date ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) - 1 AS drawdown
    FROM bars
),

per_symbol AS (
    SELECT
        symbol,
        min(trading_date) AS first_date,
        max(trading_date) AS last_date,
        count(*)::integer AS trading_days,
        max(adj_close_price) FILTER (WHERE day_from_start = 1) AS first_adj_close,
        max(adj_close_price) FILTER (WHERE day_from_end = 1) AS last_adj_close,
        max(close_price) FILTER (WHERE day_from_end = 1) AS latest_close,
        stddev_samp(daily_return) * sqrt(252::double precision) AS annualized_volatility,
        min(drawdown) AS max_drawdown
    FROM ranked
    GROUP BY symbol
),

final AS (
    SELECT
        symbol,
        first_date,
        last_date,
        trading_days,
        latest_close,
        first_adj_close,
        last_adj_close,
        last_adj_close / first_adj_close - 1 AS total_return,
        -- Compounded over trading_days - 1 daily periods, 252 periods a year.
        CASE
            WHEN trading_days > 1
                THEN power(last_adj_close / first_adj_close, 252::double precision / (trading_days - 1)) - 1
        END AS annualized_return,
        annualized_volatility,
        max_drawdown
    FROM per_symbol
)

SELECT * FROM final
