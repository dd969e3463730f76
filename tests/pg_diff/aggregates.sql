-- Aggregates: count, sum, avg, min, max, statistics, bool/string/array aggregates, GROUP BY, HAVING, FILTER, empty input.

-- count
SELECT count(*) FROM nums;
SELECT count(*) AS n_rows, count(i) AS n_i, count(k) AS n_k FROM nums;
SELECT count(DISTINCT k) FROM nums;
SELECT count(DISTINCT i) AS distinct_i, count(DISTINCT b) AS distinct_b FROM nums;
SELECT count(s), count(v), count(DISTINCT k) FROM words;
SELECT count(flag), count(*) FROM times;

-- sum and avg over int and bigint (sum(int) is bigint, sum(bigint) and avg of integers are numeric)
SELECT sum(i) FROM nums;
SELECT sum(i) AS total_i, avg(i) AS mean_i FROM nums WHERE id <= 4;
SELECT avg(i) FROM nums;
SELECT sum(b) FROM nums;
SELECT sum(b) AS total_b FROM nums WHERE id <> 7;
SELECT avg(b) FROM nums WHERE id <> 7;
SELECT sum(b), avg(b) FROM nums WHERE id IN (3, 7);

-- numeric and float
SELECT sum(n), avg(n), min(n), max(n) FROM nums;
SELECT avg(n) FROM nums WHERE k = 'a';
SELECT sum(f), min(f), max(f) FROM nums;
SELECT avg(f) AS avg_f FROM nums WHERE id <> 7;
SELECT sum(f) AS sum_small, avg(f) AS avg_small FROM nums WHERE f < 1;

-- min and max of other types
SELECT min(i), max(i), min(b), max(b) FROM nums;
SELECT min(s) AS first_s, max(s) AS last_s FROM words;
SELECT min(ts), max(ts), min(d), max(d) FROM times;

-- statistics
SELECT stddev(i), variance(i) FROM nums WHERE id <= 4;
SELECT stddev_pop(n) AS sd_pop, var_samp(n) AS var_s FROM nums WHERE id <> 7;
SELECT k, stddev(b) AS sd FROM nums WHERE id NOT IN (3, 7) GROUP BY k ORDER BY k;
SELECT variance(i) AS v1, stddev_pop(i) AS sp1 FROM nums WHERE id = 1;

-- bool_and, bool_or
SELECT bool_and(flag), bool_or(flag) FROM times;
SELECT k, bool_or(i > 5) AS has_big, bool_and(i > 0) AS all_positive FROM nums GROUP BY k ORDER BY k;

-- string_agg
SELECT string_agg(s, ',' ORDER BY id) FROM words;
SELECT k, string_agg(v, '|' ORDER BY v) AS vs FROM words GROUP BY k ORDER BY k;
SELECT string_agg(DISTINCT k, '' ORDER BY k) FROM nums;

-- array_agg
SELECT k, array_agg(i ORDER BY i) AS xs FROM nums GROUP BY k ORDER BY k;
SELECT array_agg(s ORDER BY id) FROM words WHERE id <= 4;
SELECT array_agg(DISTINCT k ORDER BY k) AS keys FROM words;

-- GROUP BY one or several columns, expressions and positions
SELECT k, count(*), sum(i) FROM nums GROUP BY k ORDER BY k;
SELECT k, i, count(*) AS cnt FROM nums GROUP BY k, i ORDER BY k, i;
SELECT i % 2 AS parity, count(*) FROM nums GROUP BY i % 2 ORDER BY parity;
SELECT k, count(*) FROM words GROUP BY 1 ORDER BY 1;
SELECT flag, count(*) AS cnt, min(d) AS first_day FROM times GROUP BY flag ORDER BY flag;
SELECT extract(year FROM d) AS yr, count(*) FROM times GROUP BY yr ORDER BY yr;
SELECT date_trunc('month', ts), count(*) FROM times GROUP BY 1;
SELECT length(s) AS len, count(*) AS cnt FROM words GROUP BY length(s) ORDER BY len;

-- HAVING
SELECT k, sum(i) FROM nums GROUP BY k HAVING sum(i) > 5 ORDER BY k;
SELECT k, count(*) AS cnt FROM words GROUP BY k HAVING count(*) >= 2 ORDER BY cnt DESC, k;
SELECT k FROM nums GROUP BY k HAVING min(i) < 0;
SELECT count(*) FROM nums HAVING count(*) > 100;
SELECT sum(i) AS s FROM nums HAVING sum(i) > 0;

-- FILTER
SELECT count(*) FILTER (WHERE i > 0) AS positive, count(*) FILTER (WHERE i < 0) AS negative FROM nums;
SELECT k, sum(b) FILTER (WHERE b < 100) FROM nums GROUP BY k ORDER BY k;
SELECT avg(n) FILTER (WHERE k IN ('a', 'b')), max(f) FILTER (WHERE f < 100) FROM nums;
SELECT count(DISTINCT k) FILTER (WHERE s IS NOT NULL) FROM words;

-- empty input: one row without GROUP BY, no rows with it
SELECT count(*), sum(i), avg(n), min(k), max(f) FROM nums WHERE false;
SELECT count(*) AS cnt, bool_and(flag) AS all_flags, array_agg(id) AS ids FROM times WHERE id > 100;
SELECT string_agg(s, ',') FROM words WHERE id < 0;
SELECT k, count(*) FROM nums WHERE id > 100 GROUP BY k;

-- NULL grouping keys
SELECT k, count(*) AS cnt, count(i) AS cnt_i FROM nums GROUP BY k ORDER BY k NULLS FIRST;
SELECT k IS NULL AS no_key, count(*) FROM words GROUP BY k IS NULL ORDER BY no_key;

-- errors
-- error 42803
SELECT k, i FROM nums GROUP BY k;
-- error 42803
SELECT count(*) FROM nums WHERE sum(i) > 0;
-- error 42803
SELECT sum(count(*)) FROM nums;
-- error 42883
SELECT sum(s) FROM words;
-- error 42703
SELECT k, count(x) FROM nums GROUP BY k;
-- error 22003
SELECT avg(f) FROM nums;
