CREATE DATABASE {database} OWNER {owner}
