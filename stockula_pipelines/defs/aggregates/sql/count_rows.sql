SELECT count(*) FROM {target}
