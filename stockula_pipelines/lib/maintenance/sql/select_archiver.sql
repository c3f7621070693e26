SELECT last_archived_wal, last_archived_time, last_failed_wal, last_failed_time, failed_count
FROM pg_stat_archiver
