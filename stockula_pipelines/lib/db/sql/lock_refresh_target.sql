SELECT pg_advisory_xact_lock(hashtextextended('refresh:' || %(target)s, 0))
