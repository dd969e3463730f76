-- Casts between numeric, text, boolean and date/time types, literal typing, refused casts and pg_typeof.

-- literal typing
SELECT 1;
SELECT 1.5;
SELECT 'a';
SELECT 1e3;
SELECT 12.500::numeric(10,3);
SELECT pg_typeof(1) AS t_int, pg_typeof(1.5) AS t_dec, pg_typeof(1e3) AS t_exp;
SELECT pg_typeof(2147483648), pg_typeof(9223372036854775808), pg_typeof('a'::text);
SELECT pg_typeof(true) AS t_bool, pg_typeof(NULL::date) AS t_date, pg_typeof('x'::varchar) AS t_varchar;

-- pg_typeof of expressions
SELECT pg_typeof(1 + 1.5), pg_typeof(1 / 2), pg_typeof(1::float8 + 1);
SELECT pg_typeof(1::int2 + 1::int2) AS small_sum, pg_typeof(1::int4 + 1::int8) AS mixed_sum, pg_typeof(1.5::float4 * 2) AS f4_mul;
SELECT pg_typeof(i + b), pg_typeof(n * 2), pg_typeof(f + n), pg_typeof(i || k) FROM nums WHERE id = 1;
SELECT pg_typeof(count(*)) AS t_count, pg_typeof(sum(i)) AS t_sum_i, pg_typeof(sum(b)) AS t_sum_b, pg_typeof(avg(i)) AS t_avg_i, pg_typeof(sum(f)) AS t_sum_f FROM nums;
SELECT pg_typeof(ts - ts), pg_typeof(d + 1), pg_typeof(d - d), pg_typeof(ts::date) FROM times WHERE id = 1;

-- between integer widths
SELECT CAST(32767 AS int2), CAST(-32768 AS smallint);
SELECT 42::int8 AS as_bigint, 42::bigint::int2 AS back_to_small;
SELECT CAST(2147483647 AS bigint) * 2 AS doubled;
SELECT 70000::int2;

-- numeric and float to integer
SELECT 3.7::int, 2.5::int, -2.5::int, 3.2::integer;
SELECT 2.5::float8::int AS f_half_even, 3.5::float8::int AS f_half_even2, -2.5::float8::int AS f_neg;
SELECT CAST(1.5 AS bigint), CAST(-1.5 AS smallint);
SELECT id, n::int AS n_int, f::int AS f_int FROM nums WHERE id IN (1, 2, 4, 9) ORDER BY id;

-- numeric(p,s)
SELECT 12.345::numeric(5,2), 1.005::numeric(5,2), -1.005::numeric(5,2);
SELECT CAST(7 AS numeric(5,2)) AS seven, CAST(0.0001 AS numeric(6,3)) AS tiny;
SELECT 123.45::numeric(10,0) AS rounded_whole, 99.995::numeric(5,2) AS rounds_up;
SELECT 12345.6::numeric(5,2);
SELECT id, n::numeric(6,1) AS n1, i::numeric(12,2) AS i2 FROM nums WHERE id IN (1, 4, 8) ORDER BY id;

-- float4 and float8
SELECT 1.1::float4, 1.1::float4::float8, 1.1::float8;
SELECT 0.1::float8::numeric AS f_to_num, 1.0::float8 AS one;
SELECT CAST(1e10 AS real), CAST(123456789 AS float4);
SELECT CAST('1.5e3' AS double precision) AS sci, '-0'::float8 AS neg_zero, '  2.5  '::float8 AS padded;
SELECT id, n::float8 AS n_float, f::numeric AS f_num FROM nums WHERE id IN (2, 3, 8) ORDER BY id;
SELECT id, CAST(i AS float8) / 4, CAST(b AS numeric) / 4 FROM nums WHERE id IN (1, 2, 3) ORDER BY id;

-- text and varchar
SELECT 1.50::text, 12::text, (-7)::text, 1.5::float8::text;
SELECT CAST(3 AS varchar) AS v3, CAST(true AS text) AS t_true, CAST(false AS varchar) AS t_false;
SELECT 'abcdef'::varchar(3), CAST('xy' AS varchar(5));
SELECT '42'::int + 1 AS from_text, ' 42 '::int AS padded, '-17'::bigint AS neg;
SELECT '3.14159'::numeric AS pi, '1e2'::numeric AS e2, CAST('0012.50' AS numeric) AS leading_zeros;
SELECT 'abc'::int;
SELECT id, i::text || '/' || k AS tag, n::text AS n_text FROM nums WHERE id IN (1, 4, 6) ORDER BY id;
SELECT id FROM nums WHERE n::text = '2.500' OR CAST(i AS varchar) = '7' ORDER BY id;
SELECT id, s::varchar(3) AS s3, length(v::text) AS vlen FROM words WHERE id IN (1, 2, 3, 4) ORDER BY id;

-- boolean
SELECT 'yes'::bool, 't'::boolean, 'off'::bool, CAST('TRUE' AS boolean);
SELECT 1::bool AS one, 0::boolean AS zero, true::int AS t_int, false::integer AS f_int;
SELECT count(*) FROM times WHERE flag = 'true'::boolean OR flag::text = 'false';
SELECT 'maybe'::bool;
SELECT id, flag::int AS flag_int, flag::text AS flag_text FROM times WHERE id IN (1, 2, 4) ORDER BY id;

-- date, timestamp, timestamptz
SELECT '2022-01-15'::date, '2024-02-29'::date + 1;
SELECT CAST('2022-01-15 10:30:00' AS timestamp) AS ts, '2022-01-15'::timestamp AS midnight;
SELECT '2022-01-15 23:59:59.75'::timestamp::date AS day, CAST('2022-01-15' AS date)::text AS day_text;
SELECT '2022-01-01 12:00:00+02'::timestamptz, '2022-06-30 08:15:00'::timestamptz::timestamp;
SELECT '2022-13-01'::date;
SELECT id, ts::date AS ts_day, d::timestamp AS d_ts, tz::date AS tz_day FROM times WHERE id IN (2, 5, 6) ORDER BY id;
SELECT id, ts::timestamptz, tz::timestamp FROM times WHERE id IN (1, 6) ORDER BY id;
SELECT CAST(d AS timestamptz) AS d_tz, CAST('2022-01-15 10:00' AS timestamp) - '2022-01-14'::date AS since FROM times WHERE id = 3;
SELECT id, ts::text AS ts_text, tz::text AS tz_text, d::varchar AS d_text FROM times WHERE id IN (2, 5) ORDER BY id;

-- interval
SELECT '1 day'::interval, '90 minutes'::interval, '1 year 2 months'::interval;
SELECT CAST('36 hours' AS interval) AS h36, '1 day 02:00:00'::interval AS d1h2, CAST('2 hours' AS interval)::text AS as_text;
SELECT '2022-01-15'::date + '1 day 6 hours'::interval AS shifted;

-- casts over table columns that PostgreSQL refuses
SELECT CAST(b AS int) FROM nums WHERE id = 3;
SELECT k::int FROM nums WHERE id = 1;
