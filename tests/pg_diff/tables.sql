-- The tables every query of tests/pg_diff/*.sql reads. PostgreSQL gets them as tables,
-- Sluice as streams over tests/pg_diff/data/<name>.jsonl (the same rows).
CREATE TABLE nums (id BIGINT NOT NULL, i INT, b BIGINT, f DOUBLE PRECISION, n NUMERIC(12, 3), k TEXT);
CREATE TABLE words (id BIGINT NOT NULL, s TEXT, v VARCHAR, k TEXT);
CREATE TABLE times (id BIGINT NOT NULL, ts TIMESTAMP, tz TIMESTAMPTZ, d DATE, flag BOOLEAN);
