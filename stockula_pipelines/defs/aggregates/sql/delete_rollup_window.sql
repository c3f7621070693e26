DELETE FROM {target} WHERE bucket >= %(start)s AND bucket < %(end)s
