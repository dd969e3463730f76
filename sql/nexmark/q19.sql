-- Nexmark q19 (RisingWave and Flink suites): the 10 highest bids of every auction, a top-N.
-- Ties on price are broken by time and bidder, so that the batch run ranks them alike.
SELECT * FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC, dateTime, bidder) AS rank_number
  FROM bid
) WHERE rank_number <= 10
