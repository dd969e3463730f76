-- Nexmark q0, pass-through: every bid, unchanged (measures the cost of reading and
-- materializing). Flink: INSERT INTO nexmark_q0 SELECT auction, bidder, price, dateTime, extra FROM bid.
SELECT auction, bidder, price, dateTime, extra FROM bid
