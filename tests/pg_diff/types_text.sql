-- Text output form of common types (timestamp, timestamptz, date, time, interval, float, numeric, bool, bytea, text), over literals and table columns.

-- timestamp
SELECT timestamp '2022-01-01 10:00:00';
SELECT timestamp '2022-01-01 10:00:00.5' AS ts;
SELECT timestamp '2024-02-29 23:59:59.123456', timestamp '2024-02-29 23:59:59.120';
SELECT timestamp '2022-01-01 10:00:00.1234567';
SELECT CAST('2015-07-15' AS timestamp) AS midnight;
-- error: 22008
SELECT timestamp '2022-13-01 00:00:00';

-- timestamptz (session TimeZone is UTC)
SELECT timestamptz '2022-01-01 12:30:00+02';
SELECT timestamptz '2024-02-29 23:59:59.123456+00' AS tz;
SELECT '2015-07-15 00:00:01-05:30'::timestamptz;
SELECT timestamptz '1999-12-31 23:59:59.25 UTC' AS utc_literal;

-- date
SELECT date '2022-01-01', date '2024-02-29';
-- error: 22008
SELECT date '2022-02-30';

-- time
SELECT time '10:00:00', time '23:59:59.999999';
SELECT '12:34:56.5'::time AS t;

-- interval
SELECT interval '1 day';
SELECT interval '2 hours 30 minutes' AS iv;
SELECT interval '3 months', interval '1 year 2 months';
SELECT interval '-1 day' AS minus_day, interval '-2 hours' AS minus_hours;
SELECT interval '1 day -2 hours';
SELECT timestamp '2022-01-23 09:59:59' - timestamp '2022-01-01 10:00:00' AS diff;
SELECT timestamp '2022-01-01 10:00:00' - timestamp '2022-01-23 09:59:59';
SELECT interval '0 seconds', interval '1.5 seconds', interval '90 minutes';
SELECT interval '36 hours' AS h36, interval '1 year 2 months 3 days 04:05:06.789' AS mixed;
-- error: 22007
SELECT interval '1 fortnight';

-- float8 / float4 (shortest round-trip)
SELECT 0.1::float8, 1e300::float8, 13537.372::float8, 3::float8;
SELECT 'NaN'::float8 AS nan, 'Infinity'::float8 AS inf, '-Infinity'::float8 AS neg_inf;
SELECT -0.0::float8 AS neg_zero;
SELECT 0.1::float4, 1.5::float4, 3.4e38::float4;
SELECT 1e-7::float8 AS tiny, 1e15::float8 AS big, 1e16::float8 AS bigger, 123456789012345678::float8 AS huge;
SELECT 0.1::float8 + 0.2::float8;
SELECT 2::float8 / 3 AS two_thirds;
-- error: 22P02
SELECT 'abc'::float8;

-- numeric
SELECT 1.250::numeric, 2.5::numeric(10, 3), 0.1::numeric(5, 2);
SELECT 123.456::numeric(6, 1) AS rounded;
SELECT 1::numeric / 3;
SELECT 10::numeric(12, 3) AS ten, 'NaN'::numeric AS nan;
SELECT 1.50 + 2.250, 1.5 * 2.25, -0.000;
-- error: 22003
SELECT 12345.678::numeric(5, 2);

-- bool
SELECT true, false;
SELECT 'yes'::boolean AS y, 'off'::boolean AS n;
SELECT 1 < 2 AS lt, NULL::boolean AS unknown;
-- error: 22P02
SELECT 'maybe'::boolean;

-- bytea (hex output)
SELECT 'abc'::bytea;
SELECT '\x00ff10'::bytea AS b;
SELECT decode('68656c6c6f', 'hex'), ''::bytea;
-- error: 22023
SELECT '\xzz'::bytea;

-- text with special characters
SELECT 'it''s' AS quoted, 'héllo wörld' AS accents;
SELECT E'line\nbreak', E'tab\there';
SELECT 'back\slash', '"double"', ''::text, NULL::text;

-- columns of nums
SELECT id, i, b, f, n, k FROM nums ORDER BY id;
SELECT id, f::text AS f_text, n::text AS n_text FROM nums ORDER BY id;
SELECT id, f::float4 FROM nums WHERE id <> 7 ORDER BY id;
SELECT id, b::float8 AS b_float, i::numeric(12, 2) AS i_numeric FROM nums ORDER BY id;
SELECT id, n * 2, n / 3, f / 3 FROM nums;
SELECT k, sum(n) AS total, count(f) AS fs FROM nums GROUP BY k ORDER BY k;

-- columns of words
SELECT id, s, v, k FROM words ORDER BY id;
SELECT id, s::bytea AS s_bytes FROM words ORDER BY id;

-- columns of times
SELECT id, ts, tz, d, flag FROM times ORDER BY id;
SELECT id, ts::date, tz::date, ts::time FROM times ORDER BY id;
SELECT id, ts - timestamp '2022-01-01 10:00:00' AS since FROM times ORDER BY id;
SELECT id, tz::text, d::text, flag::text FROM times;
SELECT id, NOT flag AS not_flag, ts::timestamptz AS ts_tz FROM times ORDER BY id;
