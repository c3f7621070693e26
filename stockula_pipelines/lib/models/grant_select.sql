GRANT SELECT ON {relation} TO {role}
