ALTER ROLE {role} WITH LOGIN {options} PASSWORD {password}
