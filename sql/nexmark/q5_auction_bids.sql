-- The inner part of Nexmark q5 on its own (what the peers' "q5-style" runs): bids per
-- auction in each 10-second window sliding every 2 seconds.
SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
FROM HOP(bid, dateTime, INTERVAL '2' SECOND, INTERVAL '10' SECOND)
GROUP BY auction, window_start, window_end
