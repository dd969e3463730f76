-- Arithmetic: integer, bigint, numeric and float operators, precedence, math functions, overflow and division by zero.

-- integer operators and precedence
SELECT 1 + 2 * 3;
SELECT (1 + 2) * 3 AS grouped;
SELECT 10 - 4 - 3, 2 * 3 + 4 * 5;
SELECT -2 * -3 AS neg_product, - 5 + 2 AS unary_minus;
SELECT 2 ^ 3 ^ 2;
SELECT -3 ^ 2 AS neg_pow;

-- integer division and modulo
SELECT 7 / 2, -7 / 2, 7 / -2;
SELECT 7 % 3 AS m1, -7 % 3 AS m2, 7 % -3 AS m3;
SELECT mod(17, 5), mod(-17, 5), mod(17.5, 5);
SELECT 1 / 2 AS int_half, 1.0 / 2 AS num_half;
SELECT 100 / 7 * 7 + 100 % 7;

-- bigint
SELECT 4000000000 * 2 AS big;
SELECT 2147483648 + 1 AS past_int4;
SELECT 9223372036854775807::bigint - 1 AS near_max;
SELECT 3000000000 / 7, 3000000000 % 7;

-- numeric scales
SELECT 1 / 3::numeric;
SELECT 1.10 * 3 AS product;
SELECT 0.1 + 0.2 AS sum_decimal;
SELECT 10.0 / 4, 10 / 4.0, 10.00 / 3;
SELECT 2.50 * 2.50 AS sq, 1.5 - 0.25 AS diff;
SELECT 1::numeric / 7 AS seventh;
SELECT 12345678901234567890.5 + 1 AS big_decimal;
SELECT 5.00 % 3, 5.5 % 2;

-- float arithmetic
SELECT 0.1::float8 + 0.2::float8;
SELECT 1.5::float8 * 4 AS f_mul, 1::float8 / 3 AS f_div;
SELECT 1e300::float8 * 10;
SELECT 2.5::float4 * 2 AS f4;
SELECT 1e-3 + 1, 1.5e2;
SELECT 1.5::float8 + 1.25::numeric AS mixed_types;
SELECT 2::numeric / 3 * 3, 10 / 3.0;

-- abs, sign, round, trunc, ceil, floor
SELECT abs(-5), abs(-5.25), abs(-2.5::float8);
SELECT sign(-7) AS s1, sign(0) AS s2, sign(3.5) AS s3;
SELECT round(2.5), round(-2.5), round(3.456, 2), round(1234.5, -2);
SELECT round(2.5::float8) AS f_half, round(3.5::float8) AS f_half2, round(-0.5::float8) AS f_neg_half;
SELECT trunc(3.789), trunc(-3.789), trunc(3.789, 1);
SELECT ceil(1.2) AS c1, ceil(-1.2) AS c2, floor(1.8) AS f1, floor(-1.8) AS f2;
SELECT ceiling(4.0001), floor(4.9999::float8);

-- sqrt, power, exp, ln, log
SELECT sqrt(16), sqrt(2::numeric), sqrt(2::float8);
SELECT power(2, 10) AS p1, power(2.0, 0.5) AS p2, power(10, -2) AS p3;
SELECT exp(1::float8), ln(10::float8);
SELECT log(1000) AS log10, log(2, 64) AS log2;
SELECT ln(1), exp(0), log(10::float8);
SELECT sqrt(-1);

-- greatest and least
SELECT greatest(3, 7, 1), least(3, 7, 1);
SELECT greatest(1, 2.5, 2) AS g, least(-1, -1.5) AS l;

-- NaN and Infinity
SELECT 'NaN'::float8 + 1, 'Infinity'::float8 * -1;
SELECT 'Infinity'::float8 - 'Infinity'::float8 AS inf_minus_inf;
SELECT 'NaN'::numeric = 'NaN'::numeric AS nan_eq, 'NaN'::float8 > 1e308 AS nan_gt;
SELECT '-Infinity'::float8 < 0, 'Infinity'::numeric + 1;

-- overflow and division by zero (errors)
SELECT 9223372036854775807::bigint + 1;
SELECT 2147483647 + 1;
SELECT 1 / 0;
SELECT 1.5 / 0 AS numeric_div_zero;
SELECT 1::float8 / 0::float8;

-- arithmetic over nums
SELECT id, i + 1 AS i1, n * 2 AS n2 FROM nums WHERE id <= 4 ORDER BY id;
SELECT id, i / 2, i % 2 FROM nums WHERE id IN (1, 2, 4, 8) ORDER BY id;
SELECT id, n / 3 AS third, round(n, 1) AS r1 FROM nums WHERE id IN (1, 2, 4) ORDER BY id;
SELECT id, f * 2, f + n FROM nums WHERE id IN (1, 2, 4, 6) ORDER BY id;
SELECT id, abs(i), sign(n), ceil(n), floor(n) FROM nums WHERE id IN (4, 8, 9) ORDER BY id;
SELECT id, i::bigint * 2 AS doubled FROM nums WHERE id IN (7, 10) ORDER BY id;
SELECT id, b / 10 AS tenth, b % 7 AS rem FROM nums WHERE id IN (1, 2, 4, 8) ORDER BY id;
SELECT sum(i) AS total, sum(n), avg(n) FROM nums WHERE id <> 7 AND id <> 10;
SELECT k, sum(n) AS s, max(f) - min(f) AS spread FROM nums WHERE k IS NOT NULL GROUP BY k;
SELECT id, i + b FROM nums WHERE id IN (1, 5) ORDER BY id;
SELECT id, greatest(i, b) AS g, least(f, n) AS l FROM nums WHERE id IN (1, 4, 8) ORDER BY id;
SELECT id FROM nums WHERE i::bigint * 2 > 5 ORDER BY id;
SELECT id, n * 1000 AS scaled FROM nums WHERE id = 7;
SELECT i + 1 FROM nums WHERE id = 7;
SELECT avg(i) AS avg_i, sum(i) AS sum_i FROM nums;
SELECT b - 1 AS under FROM nums WHERE id = 7;
SELECT id, n + 0.0005 AS nudged, n * n AS sq FROM nums WHERE id IN (3, 9, 10) ORDER BY id;
SELECT id, 100 / i AS q, 100.0 / i AS qn FROM nums WHERE id IN (1, 2, 4) ORDER BY id;
SELECT sum(b) FROM nums;
SELECT id, f / 3 AS f3, f * f AS fsq FROM nums WHERE id IN (1, 9, 10) ORDER BY id;
SELECT id, -i AS neg FROM nums WHERE id = 10;
