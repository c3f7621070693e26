-- Daily bars only: intraday bars of the same table are stg_intraday_bars.
SELECT
    symbol,
    date AS trading_date,
    time AS bar_time,
    open_price,
    high_price,
    low_price,
    close_price,
    adj_close_price,
    volume,
    trading_value,
    daily_return,
    volatility,
    source AS data_source
FROM market.price_history
WHERE interval = '1d'
