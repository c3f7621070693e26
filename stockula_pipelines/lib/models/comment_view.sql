COMMENT ON VIEW {relation} IS {comment}
