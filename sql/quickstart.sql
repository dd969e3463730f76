-- A two-minute tour of Sluice. Run it with:
--   cargo run --release -- run sql/quickstart.sql
-- or paste it into psql connected to `sluice serve` (started from the repository root).

CREATE STREAM bids (
  auction BIGINT, bidder BIGINT, price BIGINT, channel TEXT, date_time TIMESTAMP,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH (connector = 'file', path = 'sql/data/bids', format = 'json');

-- Per auction and 10-second window: number of bids, top and mean price.
CREATE MATERIALIZED VIEW auction_stats AS
  SELECT auction, window_start, window_end, count(*) AS bids, max(price) AS top, avg(price) AS mean
  FROM TUMBLE(bids, date_time, INTERVAL '10' SECOND)
  GROUP BY auction, window_start, window_end;

-- The same windows, but each row appears once, when its window closes.
CREATE MATERIALIZED VIEW final_counts AS
  SELECT window_end, count(*) AS bids, count(DISTINCT bidder) AS bidders
  FROM TUMBLE(bids, date_time, INTERVAL '10' SECOND)
  GROUP BY window_end
  EMIT ON WINDOW CLOSE;

-- An updating view without windows, and an append-only filter view.
CREATE MATERIALIZED VIEW by_channel AS
  SELECT channel, count(*) AS bids, sum(price) AS volume FROM bids GROUP BY channel HAVING count(*) > 1;
CREATE MATERIALIZED VIEW big_bids AS
  SELECT auction, bidder, price FROM bids WHERE price > 400;

-- Wait until every view has read what the files hold now and committed it (in psql, the
-- views would otherwise be read before their first checkpoint).
FLUSH;

SELECT * FROM auction_stats WHERE bids > 3 ORDER BY top DESC LIMIT 5;
SELECT * FROM final_counts ORDER BY window_end;
SELECT * FROM by_channel ORDER BY channel;
SELECT count(*) AS big FROM big_bids;
SHOW MATERIALIZED VIEWS;
SELECT view, source, position, reason FROM sluice_catalog.source_errors ORDER BY view;
