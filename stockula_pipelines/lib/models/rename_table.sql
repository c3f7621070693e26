ALTER TABLE {relation} RENAME TO {new_name}
