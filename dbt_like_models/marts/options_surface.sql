WITH options AS (
    SELECT * FROM curated.stg_options
),

closes AS (
    SELECT symbol, trading_date, bar_time, close_price FROM curated.stg_price_history
),

latest_snapshot AS (
    SELECT symbol, max(snapshot_time) AS snapshot_time, max(snapshot_date) AS snapshot_date
    FROM options
    GROUP BY symbol
),

-- One close per symbol, probed before the contracts join (MATERIALIZED keeps the planner from
-- probing the daily bars once per contract); the bar_time bounds let TimescaleDB skip the other chunks.
snapshot_close AS MATERIALIZED (
    SELECT l.symbol, l.snapshot_time, c.close_price
    FROM latest_snapshot AS l
    LEFT JOIN closes AS c
        ON c.symbol = l.symbol
        AND c.trading_date = l.snapshot_date
        AND c.bar_time >= l.snapshot_time - interval '2 days'
        AND c.bar_time <= l.snapshot_time
),

latest AS (
    SELECT
        o.*,
        -- The chain's own underlying price, else that day's daily close.
        coalesce(o.underlying_price, sc.close_price) AS spot
    FROM options AS o
    JOIN snapshot_close AS sc ON sc.symbol = o.symbol AND sc.snapshot_time = o.snapshot_time
),

final AS (
    SELECT
        symbol,
        option_type,
        expiration_date,
        strike,
        contract_symbol,
        snapshot_date,
        snapshot_time,
        spot AS underlying_price,
        bid,
        ask,
        CASE WHEN bid >= 0 AND ask > 0 AND ask >= bid THEN (bid + ask) / 2 END AS mid_price,
        last_price,
        volume,
        open_interest,
        implied_volatility,
        source_implied_volatility,
        delta,
        gamma,
        theta,
        vega,
        rho,
        greeks_status,
        strike / nullif(spot, 0) AS moneyness,
        expiration_date - snapshot_date AS days_to_expiry
    FROM latest
)

SELECT * FROM final
