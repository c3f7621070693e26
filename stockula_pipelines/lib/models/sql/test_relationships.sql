SELECT count(*)
FROM {relation} AS child
WHERE child.{column} IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM {parent} AS parent WHERE parent.{field} = child.{column})
