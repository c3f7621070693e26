-- Same column types as the target, none of its constraints: those are checked when rows reach it.
CREATE TEMPORARY TABLE {stage} ON COMMIT DROP AS
SELECT {columns} FROM {target} WITH NO DATA
