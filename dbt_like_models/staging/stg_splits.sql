SELECT
    symbol,
    ex_date,
    ratio AS split_ratio,
    source AS data_source
FROM market.splits
