SELECT strategy_id FROM analytics.strategies WHERE name = %(name)s AND version = %(version)s
