SELECT drop_chunks(%(hypertable)s::regclass, older_than => %(older_than)s::interval)::text
