ALTER DATABASE {database} OWNER TO {owner}
