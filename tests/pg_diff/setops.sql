-- Set operations: UNION, INTERSECT and EXCEPT (with ALL) over VALUES and table columns, type unification, ORDER BY and LIMIT, column names.

-- UNION and UNION ALL
SELECT k FROM nums UNION SELECT k FROM words;
SELECT k FROM nums WHERE id <= 4 UNION ALL SELECT k FROM words WHERE id >= 7;
VALUES (1, 'a'), (2, 'b') UNION ALL VALUES (1, 'a');
SELECT id FROM times WHERE flag UNION SELECT id FROM nums WHERE i > 5 ORDER BY id;
SELECT s AS word FROM words WHERE id <= 3 UNION ALL SELECT k FROM nums WHERE id <= 2 ORDER BY word;
SELECT NULL UNION SELECT NULL;

-- INTERSECT and INTERSECT ALL (NULLs count as equal)
SELECT k FROM nums INTERSECT SELECT k FROM words;
SELECT k AS shared FROM nums INTERSECT ALL SELECT k FROM words;
SELECT id FROM nums INTERSECT SELECT id FROM times WHERE flag ORDER BY id;
VALUES (1), (1), (2), (3) INTERSECT ALL VALUES (1), (1), (1), (3);
SELECT flag FROM times INTERSECT SELECT true;

-- EXCEPT and EXCEPT ALL
SELECT k FROM nums EXCEPT SELECT k FROM words WHERE id > 4;
SELECT k FROM nums EXCEPT ALL SELECT k FROM words WHERE id > 4;
SELECT id FROM words EXCEPT SELECT id FROM times ORDER BY id;
VALUES (1), (1), (2), (2), (2) EXCEPT ALL VALUES (2);

-- type unification across branches
SELECT i FROM nums WHERE id = 1 UNION SELECT b FROM nums WHERE id = 3;
SELECT i FROM nums WHERE id <= 2 UNION ALL SELECT n FROM nums WHERE id <= 2;
SELECT 1 AS x UNION ALL SELECT 2.5;
SELECT s FROM words WHERE id = 1 UNION SELECT v FROM words WHERE id = 1;
SELECT 'x' UNION SELECT 'y';
SELECT d FROM times WHERE id = 1 UNION ALL SELECT ts FROM times WHERE id = 2;

-- ORDER BY and LIMIT on a set operation
SELECT id, s FROM words WHERE id < 3 UNION ALL SELECT id, k FROM nums WHERE id < 3 ORDER BY id, s;
(SELECT id FROM nums ORDER BY id LIMIT 2) UNION ALL (SELECT id FROM words ORDER BY id DESC LIMIT 2);
SELECT k FROM nums UNION SELECT k FROM words ORDER BY k DESC LIMIT 3;
SELECT id FROM nums UNION SELECT id FROM times ORDER BY 1 DESC LIMIT 3 OFFSET 1;
SELECT i AS value FROM nums WHERE i > 0 UNION SELECT id FROM times ORDER BY value FETCH FIRST 4 ROWS ONLY;

-- column names come from the first branch
SELECT 1 AS a, 2 AS b UNION SELECT 3, 4;
SELECT 5, 6 UNION SELECT 7 AS x, 8 AS y;
SELECT id AS n_id FROM nums INTERSECT SELECT id AS t_id FROM times ORDER BY n_id;

-- errors
-- error 42601
SELECT id, i FROM nums UNION SELECT id FROM words;
-- error 42804
SELECT i FROM nums UNION SELECT s FROM words;
-- error 42703
SELECT id AS x FROM nums UNION SELECT id FROM times ORDER BY id;
