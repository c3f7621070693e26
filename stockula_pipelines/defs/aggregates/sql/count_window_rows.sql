SELECT count(*) FROM {target} WHERE bucket >= %(start)s AND bucket < %(end)s
