GRANT {granted} TO {role}
