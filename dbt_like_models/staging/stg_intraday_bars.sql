SELECT
    symbol,
    interval AS bar_interval,
    time AS bar_time,
    date AS trading_date,
    open_price,
    high_price,
    low_price,
    close_price,
    volume,
    trading_value,
    source AS data_source
FROM market.price_history
WHERE interval IN ('1m', '2m', '5m', '15m', '30m', '60m', '90m', '1h')
