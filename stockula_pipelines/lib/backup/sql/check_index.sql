SELECT bt_index_check(%s::regclass, true)
