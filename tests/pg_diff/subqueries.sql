-- Subqueries: scalar, IN / NOT IN (with NULLs), EXISTS / NOT EXISTS, correlated, in FROM, WITH (CTEs), ANY / ALL.

-- scalar subqueries
SELECT (SELECT max(i) FROM nums);
SELECT id, s, (SELECT count(*) FROM nums) AS total FROM words WHERE id <= 3 ORDER BY id;
SELECT id, i FROM nums WHERE i > (SELECT avg(i) FROM nums) ORDER BY id;
SELECT (SELECT s FROM words WHERE id = 2) AS second_word, (SELECT d FROM times WHERE id = 3) AS third_day;
SELECT (SELECT s FROM words WHERE id = 100) AS missing;
SELECT id, n - (SELECT min(n) FROM nums) AS above_min FROM nums WHERE id < 5 ORDER BY id;

-- IN and NOT IN
SELECT id, s FROM words WHERE id IN (SELECT id FROM times WHERE flag) ORDER BY id;
SELECT id FROM nums WHERE k IN (SELECT k FROM words WHERE s LIKE '%e%') ORDER BY id;
SELECT id FROM nums WHERE id NOT IN (SELECT id FROM times) ORDER BY id;
SELECT count(*) FROM nums WHERE k NOT IN (SELECT k FROM words);
SELECT id, k IN (SELECT k FROM nums WHERE i > 5) AS has_big FROM words ORDER BY id;
SELECT id, i IN (SELECT i FROM nums WHERE id BETWEEN 5 AND 6) FROM nums WHERE id < 5 ORDER BY id;
SELECT id, i NOT IN (SELECT i FROM nums WHERE id IN (1, 5)) AS not_in FROM nums WHERE id <= 3;
SELECT id FROM nums WHERE (k, i) IN (SELECT k, id FROM words) ORDER BY id;

-- EXISTS and NOT EXISTS
SELECT id, s FROM words w WHERE EXISTS (SELECT 1 FROM times t WHERE t.id = w.id AND t.flag) ORDER BY id;
SELECT n.id FROM nums n WHERE NOT EXISTS (SELECT 1 FROM words w WHERE w.k = n.k) ORDER BY n.id;
SELECT EXISTS (SELECT 1 FROM nums WHERE i > 1000) AS any_big, EXISTS (SELECT 1 FROM nums WHERE b > 1000 AND b < 0) AS impossible;

-- correlated subqueries
SELECT n.id, (SELECT count(*) FROM words w WHERE w.k = n.k) AS same_key FROM nums n ORDER BY n.id;
SELECT w.id, (SELECT max(n.i) FROM nums n WHERE n.k = w.k) FROM words w ORDER BY w.id;
SELECT id, i FROM nums a WHERE i = (SELECT max(i) FROM nums b WHERE b.k = a.k);
SELECT t.id, t.d FROM times t WHERE t.d > (SELECT min(d) FROM times t2 WHERE t2.flag = t.flag) ORDER BY t.id;
SELECT w.k, w.s FROM words w WHERE length(w.s) >= ALL (SELECT length(x.s) FROM words x WHERE x.k = w.k AND x.s IS NOT NULL);

-- subqueries in FROM
SELECT k, total FROM (SELECT k, sum(i) AS total FROM nums GROUP BY k) AS t WHERE total > 0 ORDER BY k;
SELECT x.id, x.doubled FROM (SELECT id, i * 2 AS doubled FROM nums WHERE id < 4) x ORDER BY x.id;
SELECT a.k, a.n_cnt, b.w_cnt FROM (SELECT k, count(*) AS n_cnt FROM nums GROUP BY k) a JOIN (SELECT k, count(*) AS w_cnt FROM words GROUP BY k) b ON a.k = b.k ORDER BY a.k;
SELECT * FROM (SELECT id, s FROM words ORDER BY id DESC LIMIT 3) AS last3;

-- WITH
WITH big AS (SELECT id, i FROM nums WHERE i > 2) SELECT count(*) FROM big;
WITH per_key AS (SELECT k, count(*) AS c FROM nums GROUP BY k),
     per_word AS (SELECT k, count(*) AS c FROM words GROUP BY k)
SELECT p.k, p.c AS nums_count, w.c AS words_count FROM per_key p LEFT JOIN per_word w ON p.k = w.k ORDER BY p.k;
WITH a AS (SELECT id FROM times WHERE flag), b AS (SELECT id FROM a WHERE id > 1) SELECT id FROM b ORDER BY id;
WITH t(x, y) AS (VALUES (1, 'one'), (2, 'two')) SELECT y FROM t WHERE x = 2;
WITH stats AS (SELECT avg(n) AS mean FROM nums WHERE n < 100) SELECT id, n FROM nums, stats WHERE n > mean ORDER BY id;
WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 5) SELECT sum(x) FROM r;

-- ANY, SOME and ALL
SELECT id FROM nums WHERE i > ALL (SELECT i FROM nums WHERE k = 'a') ORDER BY id;
SELECT id FROM nums WHERE i = ANY (SELECT id FROM words WHERE k = 'a') ORDER BY id;
SELECT id, i < ALL (SELECT i FROM nums WHERE id IN (3, 5)) AS below_all FROM nums WHERE id IN (1, 4, 8) ORDER BY id;
SELECT count(*) FROM words WHERE k <> ALL (SELECT k FROM nums WHERE id <= 4);
SELECT id FROM nums WHERE k = SOME (SELECT k FROM words WHERE v > 'a') ORDER BY id;

-- errors
-- error 21000
SELECT (SELECT id FROM nums WHERE k = 'a');
-- error 21000
SELECT id FROM words WHERE id = (SELECT id FROM times WHERE flag);
-- error 42601
SELECT (SELECT id, s FROM words WHERE id = 1);
-- error 42P01
WITH a AS (SELECT 1 AS x) SELECT x FROM b;
