COMMENT ON COLUMN {column} IS {comment}
