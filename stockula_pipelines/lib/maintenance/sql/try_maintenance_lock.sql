-- One maintenance task at a time (session lock; "stockula-maintenance").
SELECT pg_try_advisory_lock(hashtextextended('stockula-maintenance', 0))
