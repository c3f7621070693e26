CREATE ROLE {role} WITH LOGIN {options} PASSWORD {password}
