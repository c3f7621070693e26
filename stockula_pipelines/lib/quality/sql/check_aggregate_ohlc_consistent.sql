-- Buckets whose OHLC contradict each other or whose volume is negative.
SELECT count(*) FILTER (WHERE low_price > high_price OR open_price NOT BETWEEN low_price AND high_price
                           OR close_price NOT BETWEEN low_price AND high_price OR volume < 0 OR bar_count < 1),
       count(*)
FROM {relation}
