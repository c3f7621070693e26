SELECT time_bucket(INTERVAL '1 hour', time) AS bucket,
       sum(volume)        AS total_volume,
       sum(trading_value) AS total_trading_value,
       count(*)           AS bar_count
FROM {source}
WHERE interval = %(source_interval)s
GROUP BY 1
