CALL refresh_continuous_aggregate(%(cagg)s::regclass, %(start)s::timestamptz, %(end)s::timestamptz)
