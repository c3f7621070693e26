UPDATE ops.backups SET status = %(status)s WHERE backup_id = ANY(%(backup_ids)s) AND status = 'complete'
