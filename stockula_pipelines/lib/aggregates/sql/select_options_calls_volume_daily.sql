SELECT time_bucket(INTERVAL '1 day', time, %(tz)s::text) AS bucket,
       symbol,
       sum(volume)             AS total_volume,
       sum(open_interest)      AS total_open_interest,
       count(*)                AS contracts
FROM market.options_calls
GROUP BY 1, 2
