-- Close the current WAL segment so everything written so far reaches the archive (archive_timeout
-- would otherwise decide when); returns the segment's file name to wait for.
SELECT pg_walfile_name(pg_switch_wal())
