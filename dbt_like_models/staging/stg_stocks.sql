SELECT
    symbol,
    name AS company_name,
    sector,
    industry,
    market_cap,
    exchange,
    currency,
    source AS data_source,
    updated_at
FROM market.stocks
