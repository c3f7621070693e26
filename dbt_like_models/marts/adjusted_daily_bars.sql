WITH bars AS (
    SELECT * FROM curated.stg_price_history
),

stocks AS (
    SELECT * FROM curated.stg_stocks
),

dividends AS (
    SELECT * FROM curated.stg_dividends
),

splits AS (
    SELECT * FROM curated.stg_splits
),

-- Symbols without a sector still count in the market summary; group them under one name.
bars_with_sector AS (
    SELECT
        bars.*,
        coalesce(stocks.sector, 'Unknown') AS sector
    FROM bars
    LEFT JOIN stocks ON stocks.symbol = bars.symbol
),

final AS (
    SELECT
        b.symbol,
        b.trading_date,
        b.sector,
        b.open_price,
        b.high_price,
        b.low_price,
        b.close_price,
        b.adj_close_price,
        b.volume,
        b.trading_value,
        b.daily_return,
        b.volatility,
        d.dividend_amount,
        s.split_ratio
    FROM bars_with_sector AS b
    LEFT JOIN dividends AS d ON d.symbol = b.symbol AND d.ex_date = b.trading_date
    LEFT JOIN splits AS s ON s.symbol = b.symbol AND s.ex_date = b.trading_date
)

SELECT * FROM final
