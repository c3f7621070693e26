-- Two runs building the same model would collide on <name>__new; the second waits for the first.
SELECT pg_advisory_xact_lock(hashtext(%s))
