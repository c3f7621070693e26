-- Bars whose open or close lies outside [low, high] (or low > high): the OHLC relation is broken.
-- {batch} is replaced by great-expectations with the validated window's query.
SELECT symbol, interval, time, open_price, high_price, low_price, close_price
FROM {batch}
WHERE low_price > high_price
   OR open_price < low_price OR open_price > high_price
   OR close_price < low_price OR close_price > high_price
