-- As in a CHECK constraint, a row whose expression is NULL passes.
SELECT count(*) FROM {relation} WHERE NOT ({expression})
