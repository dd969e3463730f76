-- NULL semantics: comparisons, arithmetic, three-valued logic, IS [NOT] NULL, IS DISTINCT FROM, coalesce/nullif, aggregates, grouping, ordering and CASE.

-- comparisons and arithmetic with NULL
SELECT NULL = NULL, NULL <> NULL, 1 = NULL;
SELECT NULL::int + 1 AS plus, NULL::numeric * 0 AS times_zero, NULL::float8 / 2 AS divided;
SELECT NULL::int + 2147483647 + 1 AS no_overflow;
SELECT 'a' || NULL AS concat_op, concat('a', NULL, 'b') AS concat_fn;
SELECT id, i + b AS ib, n - f AS nf FROM nums WHERE id IN (1, 5) ORDER BY id;
SELECT count(*) FROM nums WHERE i = NULL;
SELECT count(*) FROM nums WHERE i <> 1;
SELECT 1 / coalesce(NULL, 0);

-- three-valued logic
SELECT NULL AND true, NULL AND false, NULL OR true, NULL OR false;
SELECT NOT NULL::boolean AS not_null, (NULL AND NULL) AS and_null, (NULL OR NULL) AS or_null;
SELECT true AND NULL IS NULL AS precedence_check;
SELECT id, flag, NOT flag AS negated, flag AND true AS with_true, flag OR true AS or_true FROM times ORDER BY id;
SELECT id FROM times WHERE flag OR ts > '2020-01-01' ORDER BY id;
SELECT id FROM times WHERE flag IS NOT TRUE ORDER BY id;
SELECT id, flag IS TRUE AS is_t, flag IS FALSE AS is_f, flag IS UNKNOWN AS is_u FROM times WHERE id IN (1, 2, 4) ORDER BY id;

-- IS NULL and IS NOT NULL
SELECT NULL IS NULL, 1 IS NULL, NULL IS NOT NULL, '' IS NULL;
SELECT id FROM nums WHERE i IS NULL;
SELECT id FROM words WHERE s IS NOT NULL AND k IS NULL;
SELECT id, s IS NULL AS s_null, s = '' AS s_empty FROM words WHERE id IN (3, 4) ORDER BY id;

-- IS DISTINCT FROM
SELECT NULL IS DISTINCT FROM NULL, 1 IS DISTINCT FROM NULL, 1 IS NOT DISTINCT FROM 1, NULL::int IS NOT DISTINCT FROM NULL;
SELECT id FROM nums WHERE k IS DISTINCT FROM 'a' ORDER BY id;
SELECT count(*) AS same_key FROM nums a JOIN words w ON a.k IS NOT DISTINCT FROM w.k WHERE a.id = 5;

-- IN and NOT IN with NULL
SELECT 1 IN (1, NULL) AS found, 2 IN (1, NULL) AS not_found, 2 NOT IN (1, NULL) AS not_in;
SELECT count(*) FROM nums WHERE i NOT IN (SELECT i FROM nums WHERE id IN (1, 5));

-- coalesce and nullif
SELECT coalesce(NULL, NULL, 3), coalesce(NULL::text, 'x'), coalesce(1, 2);
SELECT id, coalesce(i, 0) AS i0, coalesce(k, '(none)') AS k0, coalesce(n, f::numeric, -1) AS n0 FROM nums WHERE id IN (1, 5) ORDER BY id;
SELECT nullif(1, 1) AS same, nullif(1, 2) AS differ, nullif(NULL::int, 1) AS null_first;
SELECT id, 100 / nullif(i, 0) AS safe_div FROM nums WHERE id IN (1, 5, 6) ORDER BY id;
SELECT id, nullif(s, '') AS s_or_null FROM words WHERE id IN (1, 3, 4) ORDER BY id;
SELECT coalesce(i, 'none') FROM nums WHERE id = 5;
SELECT count(*) FROM nums WHERE i / (i - i) IS NULL;

-- aggregates over NULLs
SELECT count(*) AS all_rows, count(i) AS non_null_i, count(k) AS non_null_k, count(DISTINCT k) AS distinct_k FROM nums;
SELECT sum(i), avg(n), min(f), max(k) FROM nums WHERE id = 5;
SELECT count(*), count(i), sum(i), max(n) FROM nums WHERE id > 100;
SELECT sum(k) FROM nums;
SELECT avg(coalesce(n, 0)) AS avg_zero_filled, avg(n) AS avg_skipping FROM nums WHERE id IN (1, 2, 5);
SELECT bool_and(flag) AS all_true, bool_or(flag) AS any_true FROM times;

-- NULLs in GROUP BY and DISTINCT
SELECT k, count(*) AS c, count(i) AS ci FROM nums GROUP BY k;
SELECT DISTINCT flag FROM times;
SELECT flag, min(d) AS first_day, max(d) AS last_day FROM times GROUP BY flag HAVING count(*) > 1;

-- NULL ordering
SELECT id, k FROM nums ORDER BY k, id;
SELECT id, k FROM nums ORDER BY k DESC, id;
SELECT id, i FROM nums ORDER BY i NULLS FIRST, id;
SELECT id, n FROM nums ORDER BY n DESC NULLS LAST, id;
SELECT id, flag FROM times ORDER BY flag, id;
SELECT id, flag, d FROM times ORDER BY flag DESC NULLS LAST, d DESC, id;
SELECT id, s FROM words ORDER BY s NULLS FIRST, id;

-- CASE with NULLs
SELECT CASE NULL WHEN NULL THEN 'eq' ELSE 'ne' END;
SELECT CASE WHEN NULL THEN 'yes' ELSE 'no' END AS when_null;
SELECT id, CASE WHEN i > 0 THEN 'pos' WHEN i <= 0 THEN 'nonpos' ELSE 'unknown' END AS sign_class FROM nums WHERE id IN (1, 4, 5, 6) ORDER BY id;
SELECT id, CASE flag WHEN true THEN 'on' WHEN false THEN 'off' END FROM times WHERE id IN (1, 2, 4) ORDER BY id;
SELECT CASE WHEN i IS NULL THEN 'missing' ELSE i END FROM nums;
SELECT sum(CASE WHEN k IS NULL THEN 1 ELSE 0 END) AS null_keys, sum(CASE WHEN k = 'a' THEN 1 END) AS a_keys FROM nums;
