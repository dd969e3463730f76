-- Window functions: ranking, distribution, ntile, lag/lead, first/last/nth_value, aggregates over partitions, ROWS and RANGE frames.

-- row_number, rank, dense_rank
SELECT id, row_number() OVER (ORDER BY id DESC) FROM nums ORDER BY id;
SELECT id, k, row_number() OVER (PARTITION BY k ORDER BY id) AS rn FROM nums ORDER BY id;
SELECT id, i, rank() OVER (ORDER BY i) AS rnk, dense_rank() OVER (ORDER BY i) AS drnk FROM nums ORDER BY id;
SELECT id, k, rank() OVER (PARTITION BY k ORDER BY i DESC) FROM nums ORDER BY id;
SELECT id, k, dense_rank() OVER (ORDER BY k) FROM words ORDER BY id;
SELECT k, id, i FROM (SELECT k, id, i, row_number() OVER (PARTITION BY k ORDER BY i DESC, id) AS rn FROM nums) t WHERE rn = 1 ORDER BY k;

-- percent_rank, cume_dist, ntile
SELECT id, i, percent_rank() OVER (ORDER BY i), cume_dist() OVER (ORDER BY i) FROM nums ORDER BY id;
SELECT id, d, percent_rank() OVER (ORDER BY d) AS pr FROM times ORDER BY id;
SELECT id, ntile(3) OVER (ORDER BY id) AS bucket FROM nums ORDER BY id;
SELECT id, k, ntile(2) OVER (PARTITION BY k ORDER BY id) FROM words ORDER BY id;

-- lag and lead, with offsets and defaults
SELECT id, i, lag(i) OVER (ORDER BY id), lead(i) OVER (ORDER BY id) FROM nums ORDER BY id;
SELECT id, lag(s, 2) OVER (ORDER BY id) AS prev2, lead(s, 2, 'none') OVER (ORDER BY id) AS next2 FROM words ORDER BY id;
SELECT id, k, lag(id, 1, 0) OVER (PARTITION BY k ORDER BY id) AS prev_id FROM nums ORDER BY id;
SELECT id, ts - lag(ts) OVER (ORDER BY ts, id) AS gap FROM times ORDER BY id;
SELECT id, d, lead(d) OVER (ORDER BY d, id) AS next_day FROM times WHERE d IS NOT NULL;

-- first_value, last_value, nth_value
SELECT id, k, first_value(id) OVER (PARTITION BY k ORDER BY id) AS first_id FROM words ORDER BY id;
SELECT id, last_value(i) OVER (ORDER BY id) FROM nums ORDER BY id;
SELECT id, last_value(i) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS last_i FROM nums ORDER BY id;
SELECT id, nth_value(s, 2) OVER (ORDER BY id) FROM words ORDER BY id;
SELECT k, id, nth_value(id, 2) OVER (PARTITION BY k ORDER BY id RANGE BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS second FROM nums ORDER BY id;
SELECT DISTINCT k, first_value(f) OVER (PARTITION BY k ORDER BY f DESC, id) AS top_f FROM nums;

-- aggregates over windows
SELECT id, k, sum(i) OVER (PARTITION BY k) AS k_total, count(*) OVER () FROM nums ORDER BY id;
SELECT id, i, sum(i) OVER (ORDER BY id) AS running, min(b) OVER (ORDER BY id), max(b) OVER (ORDER BY id) FROM nums ORDER BY id;
SELECT id, n, avg(n) OVER (PARTITION BY k ORDER BY id) FROM nums ORDER BY id;
SELECT id, flag, count(*) OVER (PARTITION BY flag ORDER BY d) AS seen FROM times ORDER BY id;
SELECT id, i, sum(i) OVER (ORDER BY i) AS peers_sum FROM nums ORDER BY id;
SELECT id, n * 100 / sum(n) OVER (PARTITION BY k) AS pct FROM nums WHERE k IN ('a', 'b') ORDER BY id;

-- ROWS and RANGE frames
SELECT id, sum(i) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) AS moving FROM nums ORDER BY id;
SELECT id, avg(n) OVER (ORDER BY id ROWS 2 PRECEDING) FROM nums ORDER BY id;
SELECT id, count(*) OVER (ORDER BY id ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) FROM words ORDER BY id;
SELECT id, i, sum(i) OVER (ORDER BY i RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM nums WHERE i BETWEEN -10 AND 10 ORDER BY id;
SELECT id, i, count(*) OVER (ORDER BY i RANGE BETWEEN 2 PRECEDING AND 2 FOLLOWING) AS near FROM nums WHERE i BETWEEN -10 AND 10 ORDER BY id;
SELECT id, d, count(*) OVER (ORDER BY d RANGE BETWEEN '60 days' PRECEDING AND CURRENT ROW) AS recent FROM times ORDER BY id;
SELECT id, string_agg(s, ',') OVER (ORDER BY id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM words WHERE id <= 5 ORDER BY id;

-- named windows, windows over grouped rows, ordering by a window result
SELECT id, i, rank() OVER w, sum(i) OVER w FROM nums WINDOW w AS (PARTITION BY k ORDER BY id) ORDER BY id;
SELECT id, k, row_number() OVER (ORDER BY id) AS rn FROM words ORDER BY rn DESC;
SELECT k, sum(i) AS total, rank() OVER (ORDER BY sum(i) DESC) AS pos FROM nums GROUP BY k ORDER BY pos, k;

-- errors
-- error 42P20
SELECT id FROM nums WHERE row_number() OVER (ORDER BY id) > 2;
-- error 22014
SELECT id, ntile(0) OVER (ORDER BY id) FROM nums;
-- error 42P20
SELECT id, sum(row_number() OVER (ORDER BY id)) OVER () FROM nums;
-- error 42704
SELECT id, rank() OVER w2 FROM nums WINDOW w AS (ORDER BY id);
