SELECT pg_advisory_unlock(hashtextextended('stockula-maintenance', 0))
