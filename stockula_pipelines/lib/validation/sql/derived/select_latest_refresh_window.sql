SELECT window_start, window_end FROM ops.refresh_log WHERE target = %(target)s ORDER BY refresh_id DESC LIMIT 1
