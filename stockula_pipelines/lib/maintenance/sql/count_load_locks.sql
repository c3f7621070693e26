-- Loads, refreshes and migrations hold 64-bit advisory locks (objsubid 1) while they write;
-- maintenance waits until no other session holds one.
SELECT count(*)
FROM pg_locks
WHERE locktype = 'advisory' AND objsubid = 1 AND granted AND pid <> pg_backend_pid()
