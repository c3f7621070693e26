COMMENT ON TABLE {relation} IS {comment}
