-- ORDER BY: NULL placement, NULLS FIRST/LAST, expressions, positions and aliases, LIMIT/OFFSET/FETCH, DISTINCT, DISTINCT ON, text, floats (NaN, -0), booleans.

-- NULLs sort last ascending and first descending by default
SELECT id, i FROM nums ORDER BY i, id;
SELECT id, i FROM nums ORDER BY i DESC, id;
SELECT id, k FROM words ORDER BY k NULLS FIRST, id;
SELECT id, k FROM words ORDER BY k DESC NULLS LAST, id;
SELECT id, b FROM nums ORDER BY b DESC, id DESC;

-- expressions, positions and aliases
SELECT id, i FROM nums ORDER BY -id;
SELECT id, i % 3 AS r FROM nums ORDER BY r, id;
SELECT id, length(s) FROM words ORDER BY 2 DESC, 1;
SELECT id, lower(v) AS lv FROM words ORDER BY lv, id;
SELECT id, f * 2 AS twice FROM nums ORDER BY twice DESC NULLS LAST, id;
SELECT id, s FROM words ORDER BY s || v, id;

-- LIMIT, OFFSET and FETCH FIRST
SELECT id, s FROM words ORDER BY id LIMIT 3;
SELECT id, s AS word FROM words ORDER BY id LIMIT 3 OFFSET 8;
SELECT id FROM nums ORDER BY id OFFSET 7;
SELECT id, n FROM nums ORDER BY n DESC NULLS LAST, id FETCH FIRST 3 ROWS ONLY;
SELECT id FROM times ORDER BY id DESC OFFSET 2 ROWS FETCH NEXT 2 ROWS ONLY;
SELECT id FROM nums ORDER BY id LIMIT 0;

-- DISTINCT and DISTINCT ON
SELECT DISTINCT k FROM nums ORDER BY k;
SELECT DISTINCT k, i > 0 AS positive FROM nums ORDER BY k, positive;
SELECT DISTINCT ON (k) k, id, i FROM nums ORDER BY k, i DESC, id;
SELECT DISTINCT ON (flag) flag, id, d FROM times ORDER BY flag, d;

-- text in C.UTF-8 order
SELECT id, s FROM words ORDER BY s, id;
SELECT v FROM words ORDER BY v DESC NULLS LAST;
SELECT s FROM (VALUES ('b'), ('B'), ('a'), ('A'), ('_'), ('1'), ('é'), ('e'), ('')) AS t(s) ORDER BY s;

-- floats: NaN sorts above every number, -0 equals 0
SELECT x FROM (VALUES ('NaN'::float8), (1.5::float8), ('-Infinity'::float8), ('Infinity'::float8), ('-0'::float8), (NULL::float8)) AS t(x) ORDER BY x;
SELECT x AS val FROM (VALUES ('NaN'::float8), (2::float8), ('Infinity'::float8), (NULL)) AS t(x) ORDER BY x DESC;
SELECT id, x FROM (VALUES (1, '-0'::float8), (2, 0.0::float8), (3, -1.0::float8), (4, 'NaN'::float8)) AS t(id, x) ORDER BY x, id;
SELECT id, f FROM nums ORDER BY f, id;

-- booleans: false before true
SELECT id, flag FROM times ORDER BY flag, id;
SELECT id, d FROM times ORDER BY flag DESC NULLS LAST, d;

-- errors
-- error 42P10
SELECT id, s FROM words ORDER BY 3;
-- error 42P10
SELECT DISTINCT k FROM nums ORDER BY id;
-- error 2201W
SELECT id FROM nums ORDER BY id LIMIT -1;
