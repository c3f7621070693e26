-- Option activity per underlying symbol and bucket, as in sql/0008_aggregates.tsl.sql.
SELECT {bucket} AS bucket,
       symbol,
       sum(volume)             AS total_volume,
       sum(open_interest)      AS total_open_interest,
       count(*)                AS contracts
FROM {source}
GROUP BY 1, 2
