-- Nexmark q2, selection: the bids on a few auctions (ids divisible by 123).
SELECT auction, price FROM bid WHERE auction % 123 = 0
