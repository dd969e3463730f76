-- Sluice with Kafka: a stream, a changelog table, a stream-table join, and results written
-- back to Kafka. With `docker compose up -d` the producer service has filled the topics
-- `bids` (sql/data/bids) and `users` (sql/data/kafka/users.txt: user 2 moves, user 8 is
-- deleted by a tombstone). Then:
--   psql -h 127.0.0.1 -p 5433 -f sql/kafka.sql

CREATE STREAM bids (
  auction BIGINT, bidder BIGINT, price BIGINT, channel TEXT, date_time TIMESTAMP,
  _partition INT, _offset BIGINT,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH (connector = 'kafka', topic = 'bids', bootstrap_servers = 'kafka:9092', format = 'json');

-- Latest row per user; the tombstone removed user 8.
CREATE TABLE users (id BIGINT PRIMARY KEY, name TEXT, city TEXT)
WITH (connector = 'kafka', topic = 'users', bootstrap_servers = 'kafka:9092', format = 'json');

-- Each bid with its bidder's city, as the table is when the bid arrives.
CREATE MATERIALIZED VIEW city_volume AS
  SELECT u.city, count(*) AS bids, sum(b.price) AS volume
  FROM bids b LEFT JOIN users u ON b.bidder = u.id
  GROUP BY u.city;

-- Big bids with the bidder's name, written to the topic `rich_bids` (exactly once).
CREATE STREAM rich_bids
  WITH (connector = 'kafka', topic = 'rich_bids', bootstrap_servers = 'kafka:9092', key = 'bidder')
  AS SELECT b.auction, b.bidder, u.name, b.price FROM bids b JOIN users u ON b.bidder = u.id WHERE b.price > 300;

FLUSH;
SELECT * FROM users ORDER BY id;
SELECT * FROM city_volume ORDER BY volume DESC;
SHOW SOURCES;
SHOW SINKS;
