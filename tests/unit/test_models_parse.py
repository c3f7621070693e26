"""Dependencies of a model come from its parsed SQL: CTEs, subqueries, joins and unions."""

from __future__ import annotations

import pytest

from stockula_pipelines.lib.models import ModelSqlError, parse_model_sql


def test_cte_names_are_not_dependencies():
    parsed = parse_model_sql("""
        WITH bars AS (SELECT * FROM curated.stg_price_history),
             stocks AS (SELECT symbol, sector FROM curated.stg_stocks),
             joined AS (SELECT bars.*, stocks.sector FROM bars JOIN stocks USING (symbol))
        SELECT * FROM joined
    """)
    assert parsed.tables == {"curated.stg_price_history", "curated.stg_stocks"}


def test_subqueries_joins_exists_and_unions_are_followed():
    parsed = parse_model_sql("""
        SELECT p.symbol, d.amount
        FROM (SELECT symbol, time FROM market.price_history WHERE interval = '1d') AS p
        LEFT JOIN market.dividends AS d ON d.symbol = p.symbol
        WHERE EXISTS (SELECT 1 FROM market.stocks s WHERE s.symbol = p.symbol)
          AND p.symbol IN (SELECT symbol FROM market.splits)
        UNION ALL
        SELECT symbol, NULL FROM market.options_calls
        UNION
        SELECT symbol, NULL FROM (WITH x AS (SELECT symbol FROM market.options_puts) SELECT * FROM x) AS y
    """)
    assert parsed.tables == {"market.price_history", "market.dividends", "market.stocks", "market.splits",
                             "market.options_calls", "market.options_puts"}


def test_a_cte_shadowing_a_table_name_is_still_a_cte():
    parsed = parse_model_sql("""
        WITH price_history AS (SELECT * FROM market.price_history)
        SELECT * FROM price_history, generate_series(1, 3) AS g(n)
    """)
    assert parsed.tables == {"market.price_history"}


def test_columns_read_per_table_follow_aliases_and_star():
    parsed = parse_model_sql("""
        SELECT p.symbol, p.daily_return, c.delta
        FROM market.price_history AS p JOIN market.options_calls AS c ON c.symbol = p.symbol
    """)
    assert {"symbol", "daily_return"} <= parsed.columns_read["market.price_history"]
    assert "delta" not in parsed.columns_read["market.price_history"]
    assert "delta" in parsed.columns_read["market.options_calls"]
    star = parse_model_sql("SELECT * FROM market.price_history")
    assert "*" in star.columns_read["market.price_history"]


@pytest.mark.parametrize(
    ("sql_text", "message"),
    [
        ("SELECT * FROM stg_stocks", "not schema-qualified"),
        ("SELECT * FROM db.curated.x", "three-part"),
        ("DELETE FROM market.stocks", "must be a SELECT"),
        ("SELECT 1; SELECT 2", "exactly one statement"),
        ("SELECT FROM WHERE (", "does not parse"),
    ],
)
def test_bad_model_sql_is_refused_naming_the_file(sql_text, message):
    with pytest.raises(ModelSqlError, match=message) as info:
        parse_model_sql(sql_text, "models/bad.sql")
    assert "models/bad.sql" in str(info.value)
