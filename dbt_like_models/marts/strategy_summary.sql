WITH performance AS (
    SELECT * FROM analytics.strategy_performance
),

strategies AS (
    SELECT * FROM analytics.strategies
),

-- Each version's equal-weight portfolio of its universe, rebalanced daily.
portfolio AS (
    SELECT
        strategy_id,
        date,
        count(*) AS symbols,
        avg(daily_return) AS daily_return,
        avg(turnover) AS turnover
    FROM performance
    GROUP BY strategy_id, date
),

ordered AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY strategy_id ORDER BY date DESC) AS day_from_end
    FROM portfolio
),

periods AS (
    SELECT 'full' AS period, strategy_id, date, daily_return, turnover FROM ordered
    UNION ALL
    SELECT 'last_252' AS period, strategy_id, date, daily_return, turnover FROM ordered WHERE day_from_end <= 252
),

equity AS (
    SELECT
        period,
        strategy_id,
        date,
        daily_return,
        turnover,
        exp(sum(ln(1 + daily_return)) OVER (
            PARTITION BY strategy_id, period ORDER BY date ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        )) AS equity
    FROM periods
),

peaks AS (
    SELECT
        *,
        -- The starting value 1.0 is the first peak; a new peak must rise strictly above every earlier one.
        greatest(1, max(equity) OVER (
            PARTITION BY strategy_id, period ORDER BY date ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        )) AS running_peak,
        equity > greatest(1, coalesce(max(equity) OVER (
            PARTITION BY strategy_id, period ORDER BY date ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ), 1)) AS is_new_peak
    FROM equity
),

drawdowns AS (
    SELECT
        *,
        equity / running_peak - 1 AS drawdown,
        max(CASE WHEN is_new_peak THEN date END) OVER (
            PARTITION BY strategy_id, period ORDER BY date ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS peak_date
    FROM peaks
),

troughs AS (
    SELECT
        strategy_id,
        period,
        least(drawdown, 0) AS max_drawdown,
        CASE WHEN drawdown < 0 THEN peak_date END AS max_drawdown_peak_date,
        CASE WHEN drawdown < 0 THEN date END AS max_drawdown_trough_date,
        row_number() OVER (PARTITION BY strategy_id, period ORDER BY drawdown, date) AS deepest
    FROM drawdowns
),

stats AS (
    SELECT
        strategy_id,
        period,
        count(*)::integer AS trading_days,
        min(date) AS first_date,
        max(date) AS last_date,
        power(exp(sum(ln(1 + daily_return))), 252::double precision / count(*)) - 1 AS cagr,
        stddev_samp(daily_return) * sqrt(252::double precision) AS annual_volatility,
        avg(daily_return) / nullif(stddev_samp(daily_return), 0) * sqrt(252::double precision) AS sharpe_ratio,
        avg(daily_return) * 252 / nullif(sqrt(avg(least(daily_return, 0) * least(daily_return, 0))), 0)
            / sqrt(252::double precision) AS sortino_ratio,
        avg(CASE WHEN daily_return > 0 THEN 1.0 ELSE 0.0 END) FILTER (WHERE daily_return <> 0)::double precision
            AS hit_rate,
        avg(turnover) * 252 AS annual_turnover
    FROM periods
    GROUP BY strategy_id, period
),

summary AS (
    SELECT s.*, t.max_drawdown, t.max_drawdown_peak_date, t.max_drawdown_trough_date
    FROM stats AS s
    JOIN troughs AS t ON t.strategy_id = s.strategy_id AND t.period = s.period AND t.deepest = 1
),

universe AS (
    SELECT strategy_id, count(DISTINCT symbol)::integer AS symbols
    FROM performance
    GROUP BY strategy_id
),

final AS (
    SELECT
        st.strategy_id,
        st.name,
        st.version,
        st.kind,
        st.parameters::text AS parameters,
        st.commission_bps,
        st.slippage_bps,
        u.symbols,
        f.first_date,
        f.last_date,
        f.trading_days,
        f.cagr,
        f.annual_volatility,
        f.sharpe_ratio,
        f.sortino_ratio,
        f.max_drawdown,
        f.max_drawdown_peak_date,
        f.max_drawdown_trough_date,
        f.hit_rate,
        f.annual_turnover,
        l.trading_days AS last_252_trading_days,
        l.cagr AS last_252_cagr,
        l.annual_volatility AS last_252_annual_volatility,
        l.sharpe_ratio AS last_252_sharpe_ratio,
        l.sortino_ratio AS last_252_sortino_ratio,
        l.max_drawdown AS last_252_max_drawdown,
        l.max_drawdown_peak_date AS last_252_max_drawdown_peak_date,
        l.max_drawdown_trough_date AS last_252_max_drawdown_trough_date,
        l.hit_rate AS last_252_hit_rate,
        l.annual_turnover AS last_252_annual_turnover
    FROM strategies AS st
    JOIN universe AS u ON u.strategy_id = st.strategy_id
    JOIN summary AS f ON f.strategy_id = st.strategy_id AND f.period = 'full'
    JOIN summary AS l ON l.strategy_id = st.strategy_id AND l.period = 'last_252'
)

SELECT * FROM final
