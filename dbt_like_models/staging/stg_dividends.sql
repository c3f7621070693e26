SELECT
    symbol,
    ex_date,
    amount AS dividend_amount,
    source AS data_source
FROM market.dividends
