-- Joins between nums, words and times: inner, left, right, full, cross and self-joins, USING and ON, inequalities, NULL keys, joins with aggregates.

-- inner joins on id
SELECT n.id, n.i, w.s FROM nums n JOIN words w ON n.id = w.id ORDER BY n.id;
SELECT nums.id, words.v, times.d FROM nums INNER JOIN words ON nums.id = words.id INNER JOIN times ON times.id = words.id ORDER BY nums.id;
SELECT id, i, s FROM nums JOIN words USING (id) WHERE id <= 5 ORDER BY id;
SELECT n.id AS nid, t.flag FROM nums AS n, times AS t WHERE n.id = t.id AND t.flag ORDER BY nid;
SELECT * FROM nums JOIN times USING (id) WHERE id IN (1, 4);

-- joins on k: many-to-many, NULL keys never match
SELECT n.id AS nid, w.id AS wid, k FROM nums n JOIN words w USING (k) WHERE k IN ('b', 'd') ORDER BY nid, wid;
SELECT count(*) FROM nums n JOIN words w ON n.k = w.k;
SELECT n.id, w.id FROM nums n JOIN words w ON n.k = w.k AND n.id = w.id;
SELECT count(*) AS pairs FROM nums n JOIN words w ON n.k IS NOT DISTINCT FROM w.k;

-- left joins
SELECT n.id, t.ts FROM nums n LEFT JOIN times t ON n.id = t.id ORDER BY n.id;
SELECT n.id, n.k, w.id AS wid FROM nums n LEFT JOIN words w ON n.k = w.k AND w.id > 8 ORDER BY n.id, wid;
SELECT w.id, t.d FROM words w LEFT JOIN times t ON t.id = w.id WHERE t.id IS NULL ORDER BY w.id;
SELECT w.s, t.flag FROM words w LEFT OUTER JOIN times t ON t.id = w.id AND t.flag ORDER BY w.id;
SELECT n.id, coalesce(t.flag, false) AS flag FROM nums n LEFT JOIN times t USING (id) WHERE n.id > 6;

-- right joins
SELECT t.id, n.b FROM nums n RIGHT JOIN times t ON n.id = t.id + 5 ORDER BY t.id;
SELECT w.id AS wid, n.id AS nid FROM nums n RIGHT OUTER JOIN words w ON n.k = w.k AND n.i > 5 ORDER BY wid, nid;
SELECT id, s FROM times RIGHT JOIN words USING (id);

-- full outer joins
SELECT t.id AS tid, w.id AS wid FROM times t FULL JOIN words w ON t.id = w.id - 5 ORDER BY tid NULLS FIRST, wid;
SELECT id, t.d, w.v FROM times t FULL OUTER JOIN words w USING (id) ORDER BY id;
SELECT n.k AS nk, w.k AS wk FROM nums n FULL JOIN words w ON n.k = w.k AND n.id = w.id;
SELECT count(*), count(n.id), count(w.id) FROM nums n FULL JOIN words w ON n.id = w.id + 3;

-- cross joins
SELECT count(*) FROM nums CROSS JOIN words;
SELECT n.id, t.id FROM nums n CROSS JOIN times t WHERE n.id <= 2 AND t.id <= 3 ORDER BY n.id, t.id;
SELECT a.x, b.y FROM (VALUES (1), (2)) AS a(x) CROSS JOIN (VALUES ('p'), ('q')) AS b(y);

-- self-joins
SELECT a.id, b.id FROM nums a JOIN nums b ON a.k = b.k AND a.id < b.id ORDER BY a.id, b.id;
SELECT a.id AS id1, b.id AS id2 FROM nums a JOIN nums b ON a.i = b.i AND a.id <> b.id;
SELECT e.id, count(l.id) AS smaller FROM nums e LEFT JOIN nums l ON l.i < e.i GROUP BY e.id ORDER BY e.id;
SELECT a.id, b.id AS later_id FROM times a JOIN times b ON b.ts > a.ts AND b.ts < a.ts + interval '1 day';

-- inequality join conditions
SELECT n.id, w.id FROM nums n JOIN words w ON n.i > w.id AND n.i < 5 ORDER BY n.id, w.id;
SELECT t.id AS tid, n.id AS nid FROM times t JOIN nums n ON n.id BETWEEN t.id AND t.id + 1 WHERE t.id > 5 ORDER BY tid, nid;
SELECT w.s, n.id FROM words w JOIN nums n ON length(w.s) = n.id;

-- NULL keys
SELECT n.id, w.id FROM nums n JOIN words w ON n.k = w.k WHERE n.k IS NULL OR w.k IS NULL;
SELECT n.id, w.id AS wid FROM nums n LEFT JOIN words w ON n.k = w.k WHERE n.id = 5;
SELECT w.id, w.k, n.id AS nid FROM words w LEFT JOIN nums n ON w.k = n.k AND n.id = 5 ORDER BY w.id;

-- joins with aggregates
SELECT n.k, count(w.id) AS matches FROM nums n LEFT JOIN words w ON n.k = w.k GROUP BY n.k ORDER BY n.k;
SELECT w.k, sum(n.i), max(t.d) FROM words w JOIN nums n ON n.id = w.id LEFT JOIN times t ON t.id = w.id GROUP BY w.k ORDER BY w.k;
SELECT t.flag, avg(n.n) AS avg_n FROM times t JOIN nums n ON n.id = t.id GROUP BY t.flag;
SELECT w.k, string_agg(n.id::text, ',' ORDER BY n.id) FROM words w JOIN nums n USING (k) GROUP BY w.k HAVING count(*) > 4;

-- errors
-- error 42702
SELECT id FROM nums JOIN words ON nums.id = words.id;
-- error 42P01
SELECT n.id FROM nums n JOIN wordz w ON n.id = w.id;
-- error 42703
SELECT * FROM nums JOIN times USING (k);
-- error 42804
SELECT count(*) FROM nums n JOIN words w ON n.id;
