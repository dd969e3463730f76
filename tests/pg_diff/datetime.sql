-- Date/time functions and arithmetic (extract, date_trunc, interval math, to_char, to_timestamp/to_date, make_*, age, casts, comparisons) over literals and the times table.

-- extract / date_part
SELECT extract(year from timestamp '2022-01-23 09:59:59'), extract(month from timestamp '2022-01-23 09:59:59'), extract(day from timestamp '2022-01-23 09:59:59');
SELECT extract(hour from timestamp '2022-01-23 09:59:59.5') AS h, extract(minute from timestamp '2022-01-23 09:59:59.5') AS m, extract(second from timestamp '2022-01-23 09:59:59.5') AS s;
SELECT extract(epoch from timestamp '2022-01-01 10:00:00.5') AS epoch_ts, extract(epoch from timestamptz '2022-01-01 12:30:00+02') AS epoch_tz;
SELECT extract(dow from date '2022-01-23'), extract(doy from date '2022-12-31'), extract(week from date '2022-01-01'), extract(quarter from date '2022-08-15');
SELECT date_part('year', timestamp '2024-02-29 23:59:59.123456'), date_part('second', timestamp '2024-02-29 23:59:59.123456'), date_part('epoch', timestamp '1970-01-02 00:00:00');
SELECT extract(epoch from interval '1 day 2 hours') AS secs, extract(day from interval '36 hours') AS days, extract(hour from interval '36 hours') AS hours;
SELECT extract(isoyear from date '2021-01-01'), extract(week from date '2021-01-03'), extract(week from date '2020-12-31');
SELECT id, extract(year from ts) AS y, extract(month from ts) AS mo, extract(day from ts) AS dd, extract(hour from ts) AS hh FROM times ORDER BY id;
SELECT id, extract(second from ts), extract(epoch from ts), extract(epoch from tz) FROM times ORDER BY id;
SELECT id, extract(dow from d) AS dow, extract(doy from d) AS doy, extract(week from d) AS wk, extract(quarter from d) AS q FROM times ORDER BY id;
SELECT id, date_part('year', d), date_part('minute', tz), date_part('dow', ts) FROM times ORDER BY id;
-- error: 22023
SELECT extract(fortnight from timestamp '2022-01-23 09:59:59');

-- date_trunc
SELECT date_trunc('year', timestamp '2022-08-15 13:45:30.25'), date_trunc('quarter', timestamp '2022-08-15 13:45:30.25'), date_trunc('month', timestamp '2022-08-15 13:45:30.25');
SELECT date_trunc('week', timestamp '2022-08-15 13:45:30.25') AS wk, date_trunc('day', timestamp '2022-08-15 13:45:30.25') AS dy, date_trunc('hour', timestamp '2022-08-15 13:45:30.25') AS hr;
SELECT date_trunc('minute', timestamp '2022-08-15 13:45:30.123456'), date_trunc('second', timestamp '2022-08-15 13:45:30.123456'), date_trunc('milliseconds', timestamp '2022-08-15 13:45:30.123456');
SELECT date_trunc('day', timestamptz '2022-01-01 12:30:00+02'), date_trunc('week', date '2022-01-01');
SELECT id, date_trunc('month', ts) AS month_start, date_trunc('quarter', d) AS quarter_start, date_trunc('hour', tz) AS hour_start FROM times ORDER BY id;
-- error: 22023
SELECT date_trunc('fortnight', timestamp '2022-08-15 13:45:30');

-- timestamp +/- interval
SELECT timestamp '2022-01-01 10:00:00' + interval '1 day 2 hours', timestamp '2022-01-01 10:00:00' - interval '30 minutes';
SELECT timestamp '2024-01-31 00:00:00' + interval '1 month' AS end_of_feb, date '2024-02-29' + interval '1 year' AS next_year;
SELECT timestamptz '2022-03-27 00:30:00+00' + interval '1 day', date '2022-01-23' + time '12:34:56';
SELECT id, ts + interval '1 hour' AS plus_hour, tz - interval '1 month' AS minus_month, d + interval '12 hours' AS d_noon FROM times ORDER BY id;
-- error: 22007
SELECT timestamp '2022-01-01 10:00:00' + interval 'abc';

-- date +/- integer, date - date
SELECT date '2022-01-01' + 30, date '2022-03-01' - 1, 7 + date '2022-01-01';
SELECT date '2024-03-01' - date '2024-02-01' AS feb_days, date '2022-01-01' - date '2022-12-31' AS back;
SELECT id, d + 1 AS next_day, d - 7 AS week_before, d - date '2000-01-01' AS days_since_2000 FROM times ORDER BY id;
-- error: 22008
SELECT date '2022-01-01' + 2147483647;

-- timestamp - timestamp
SELECT timestamp '2024-03-01 00:00:00' - timestamp '2024-02-28 12:00:00', timestamptz '2022-01-02 00:00:00+00' - timestamptz '2022-01-01 12:30:00+02';
SELECT a.id, b.id, b.ts - a.ts AS gap FROM times a JOIN times b ON b.id = a.id + 1 ORDER BY a.id;
SELECT id, tz - ts::timestamptz FROM times ORDER BY id;

-- interval comparison
SELECT interval '1 day' = interval '24 hours', interval '1 month' = interval '30 days', interval '1 hour' < interval '59 minutes';
SELECT id, ts - timestamp '2022-01-01 10:00:00' > interval '7 days' AS over_week FROM times ORDER BY id;
SELECT a.id AS a_id, b.id AS b_id FROM times a JOIN times b ON b.ts - a.ts > interval '7 days' AND b.ts - a.ts < interval '3000 days' ORDER BY a.id, b.id;
SELECT max(ts) - min(ts) AS span, max(d) - min(d) AS day_span FROM times;

-- interval arithmetic and justify_*
SELECT interval '1 day' * 3, interval '1 hour' / 2, interval '1 month' + interval '1 day', -interval '1 day 2 hours';
SELECT justify_days(interval '35 days'), justify_hours(interval '27 hours'), justify_interval(interval '1 month -1 hour');
SELECT justify_interval(timestamp '2022-01-23 09:59:59' - timestamp '2021-11-01 10:00:00') AS j;
SELECT sum(ts - timestamp '2022-01-01 00:00:00') AS total, avg(ts - timestamp '2022-01-01 00:00:00') AS mean FROM times WHERE id IN (1, 2, 7);

-- to_char
SELECT to_char(timestamp '2022-01-23 09:59:59', 'YYYY-MM-DD'), to_char(timestamp '2022-01-23 09:59:59', 'HH24:MI:SS');
SELECT to_char(timestamp '2022-01-23 09:59:59', 'Mon DD YYYY') AS mdy, to_char(timestamp '2022-01-23 09:59:59', 'YYYY-MM-DD HH24:MI') AS ymdhm;
SELECT to_char(timestamp '2022-01-23 21:05:09.123456', 'HH12:MI:SS AM'), to_char(timestamp '2022-01-23 21:05:09.123456', 'DD/MM/YYYY'), to_char(timestamp '2022-01-23 21:05:09.123456', 'YYYY"Q"Q'), to_char(timestamp '2022-01-23 21:05:09.123456', 'MS US');
SELECT to_char(date '2022-01-23', 'FMMonth DD, YYYY') AS long_date, to_char(date '2022-01-23', 'Day') AS day_name, to_char(date '2022-01-23', 'Dy') AS short_day;
SELECT id, to_char(ts, 'YYYY-MM-DD HH24:MI:SS') AS formatted, to_char(tz, 'YYYY-MM-DD"T"HH24:MI:SSOF') AS iso, to_char(d, 'Mon DD YYYY') AS pretty FROM times ORDER BY id;
SELECT to_char(ts, 'YYYY') AS yr, count(*) FROM times GROUP BY 1 ORDER BY 1;

-- to_timestamp / to_date
SELECT to_date('2022-01-23', 'YYYY-MM-DD'), to_date('23/01/2022', 'DD/MM/YYYY'), to_date('20220123', 'YYYYMMDD');
SELECT to_timestamp('2022-01-23 09:59:59', 'YYYY-MM-DD HH24:MI:SS') AS parsed;
SELECT to_timestamp('Jan 23 2022 9:59 PM', 'Mon DD YYYY HH:MI PM');
SELECT to_timestamp(1642931999) AS from_epoch, to_timestamp(0) AS epoch0, to_timestamp(1642931999.5) AS fractional;
-- error: 22008
SELECT to_date('2022-13-01', 'YYYY-MM-DD');
-- error: 22007
SELECT to_timestamp('hello', 'YYYY-MM-DD');

-- make_date / make_timestamp
SELECT make_date(2022, 1, 23), make_date(2024, 2, 29);
SELECT make_timestamp(2022, 1, 23, 9, 59, 59.5) AS mt, make_time(9, 59, 59) AS mtime;
SELECT make_timestamptz(2022, 1, 23, 9, 59, 59);
-- error: 22008
SELECT make_date(2023, 2, 29);

-- age with two arguments
SELECT age(timestamp '2022-01-23 09:59:59', timestamp '2021-11-01 10:00:00'), age(date '2024-02-29', date '2000-01-01');
SELECT id, age(ts, timestamp '1970-01-01 00:00:00') AS since_epoch, age(timestamp '2025-01-01 00:00:00', ts) AS until_2025 FROM times ORDER BY id;

-- casts between date, timestamp and timestamptz
SELECT date '2022-01-23'::timestamp, date '2022-01-23'::timestamptz, timestamp '2022-01-23 09:59:59'::date;
SELECT timestamptz '2022-01-23 09:59:59+05'::timestamp AS local_ts, timestamptz '2022-01-23 23:30:00-05'::date AS utc_date;
SELECT '2022-01-23T09:59:59'::timestamp, '2022-01-23 09:59:59Z'::timestamptz, '20220123'::date;
SELECT id, ts::timestamptz = tz AS same_instant, tz::timestamp AS tz_local, CAST(d AS timestamptz) AS d_tz FROM times ORDER BY id;
-- error: 22008
SELECT '2022-01-23 25:00:00'::timestamp;

-- comparisons
SELECT date '2022-01-01' < date '2022-01-02', timestamp '2022-01-01 10:00:00' = timestamp '2022-01-01 10:00:00.000', date '2022-01-01' = timestamp '2022-01-01 00:00:00';
SELECT id FROM times WHERE ts >= timestamp '2022-01-01 00:00:00' ORDER BY id;
SELECT id, d FROM times WHERE d BETWEEN date '2000-01-01' AND date '2022-12-31' ORDER BY id;
SELECT id, tz FROM times WHERE tz > timestamptz '2022-01-01 10:15:00+00' ORDER BY id;
SELECT id FROM times WHERE ts::date <> d OR tz::date <> d;

-- grouping and ordering by time columns
SELECT extract(year from ts) AS y, count(*) FROM times GROUP BY 1 ORDER BY 1;
SELECT date_trunc('year', d) AS yr, count(*) AS n, min(ts) AS first_ts, max(ts) AS last_ts FROM times GROUP BY date_trunc('year', d) ORDER BY yr;
SELECT flag, min(ts), max(tz), count(d) FROM times GROUP BY flag ORDER BY flag;
SELECT id, ts FROM times ORDER BY ts DESC NULLS LAST, id;
SELECT id, d FROM times ORDER BY d, id;
SELECT id, tz FROM times ORDER BY tz NULLS FIRST, id;
