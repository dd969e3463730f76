-- The inner part of Nexmark q7 on its own (what the peers' "q7-style" runs): the highest
-- price of each 10-second window.
SELECT MAX(price) AS maxprice, window_start, window_end
FROM TUMBLE(bid, dateTime, INTERVAL '10' SECOND)
GROUP BY window_start, window_end
