-- Two rollups of one target at once would both delete, then collide on the primary key when inserting.
SELECT pg_advisory_xact_lock(hashtextextended(%(target)s, 0))
