-- Grafana PostgreSQL data source — test connection, feature auto-detection, schema/table/column pickers.
-- Grafana's frontend builds these strings and runs them through the backend (/api/ds/query); the backend executes
-- them with pgx PgConn().Exec (simple-query protocol, no bind parameters) — current pkg/tsdb/grafana-postgresql-datasource/pgx,
-- or with lib/pq database/sql in older versions. Schema 'public', table 'bids' used where a name is interpolated.
-- NOTE on "Test connection": it sends NO SQL statement in current Grafana; it pings:
--   * pgx (pkg/tsdb/grafana-postgresql-datasource/pgx/sql_engine.go DataSourceHandler.Ping → pgxpool.Pool.Ping):
--     a simple Query message whose text is the comment "-- ping" (pgx v5 pgconn.Ping does Exec(ctx, "-- ping")).
--   * lib/pq (sqleng/handler_checkhealth.go e.Ping() → database/sql → lib/pq conn.Ping): simple Query message ";".
--   Both must get CommandComplete-less EmptyQueryResponse + ReadyForQuery. risingwavelabs/risingwave#10914 shows
--   Grafana crashing in lib/pq conn.go during PING DATABASE against RisingWave. These two are listed at the end as
--   RAW lines (comments), because they are not SQL statements.

-- ==================== feature auto-detection (configuration page, useAutoDetectFeatures.ts) ====================

-- source: grafana/grafana public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts (stored commit 12f912ab8d010f4d95a4043a0efaa20fc4ca0100; Grafana 10.3+/11/12); called from configuration/useAutoDetectFeatures.ts
-- purpose: detect PostgreSQL version (server_version_num/100, e.g. 1606 → 16); needs current_setting() and ::int cast
-- note: risingwavelabs/risingwave#10051: RisingWave failed this with 'unsupported function: "current_setting"' (RisingWave logged it in its own normalized form: SELECT CAST(current_setting('server_version_num') AS INT) / 100 AS version)
SELECT current_setting('server_version_num')::int/100 as version
;

-- source: grafana/grafana public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts (stored commit 12f912ab8d010f4d95a4043a0efaa20fc4ca0100; Grafana 10.3+/11/12)
-- purpose: detect TimescaleDB (only when version >= 906)
SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'
;

-- ==================== query builder: schemas / tables / columns (current) ====================

-- source: grafana/grafana public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts (stored commit 12f912ab8d010f4d95a4043a0efaa20fc4ca0100; Grafana 10.3+/11/12) showSchemas() (exported helper; not referenced by datasource.ts at that commit)
-- purpose: list schemas
SELECT schema_name AS "name"
    FROM information_schema.schemata
    WHERE schema_name NOT IN ('information_schema',
                              'pg_catalog',
                              'pg_toast',
                              '_timescaledb_cache',
                              '_timescaledb_catalog',
                              '_timescaledb_internal',
                              '_timescaledb_config',
                              'timescaledb_information',
                              'timescaledb_experimental')
    ORDER BY schema_name
;

-- source: grafana/grafana public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts (stored commit 12f912ab8d010f4d95a4043a0efaa20fc4ca0100; Grafana 10.3+/11/12) showTables() — used by datasource.ts fetchTables() (table dropdown + SQL editor completion)
-- purpose: list tables on the search_path unqualified and all others as schema.table; uses quote_ident, current_setting('search_path'), string_to_array, generate_series over array_lower/array_upper, array subscript s[i], trim, CASE inside ORDER BY
SELECT
    CASE WHEN 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
      THEN quote_ident(table_name)
      ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
    END AS "table"
    FROM information_schema.tables
    WHERE quote_ident(table_schema) NOT IN ('information_schema',
                             'pg_catalog',
                             '_timescaledb_cache',
                             '_timescaledb_catalog',
                             '_timescaledb_internal',
                             '_timescaledb_config',
                             'timescaledb_information',
                             'timescaledb_experimental')
    ORDER BY CASE WHEN 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          ) THEN 0 ELSE 1 END, 1
;

-- source: grafana/grafana public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts (stored commit 12f912ab8d010f4d95a4043a0efaa20fc4ca0100; Grafana 10.3+/11/12) showTables(schema) — schema 'public'
-- purpose: list tables of one schema
SELECT quote_ident(table_name) AS "table"
      FROM information_schema.tables
      WHERE quote_ident(table_schema) = 'public'
      ORDER BY 1
;

-- source: grafana/grafana public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts (stored commit 12f912ab8d010f4d95a4043a0efaa20fc4ca0100; Grafana 10.3+/11/12) getSchema(table) — used by datasource.ts fetchFields() (column picker); table 'bids'
-- purpose: list columns of an unqualified table (search_path)
-- note: needs parse_ident(text) returning text[] and array_length(arr,1)
SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident('bids'),1) = 2
        THEN quote_ident(table_schema) = (parse_ident('bids'))[1]
          AND quote_ident(table_name) = (parse_ident('bids'))[2]
        ELSE quote_ident(table_name) = 'bids'
          AND 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
      END
;

-- source: grafana/grafana public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts (stored commit 12f912ab8d010f4d95a4043a0efaa20fc4ca0100; Grafana 10.3+/11/12) getSchema(table) — table 'public.bids'
-- purpose: list columns of a schema-qualified table
SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident('public.bids'),1) = 2
        THEN quote_ident(table_schema) = (parse_ident('public.bids'))[1]
          AND quote_ident(table_name) = (parse_ident('public.bids'))[2]
        ELSE quote_ident(table_name) = 'public.bids'
          AND 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
      END
;

-- ==================== Grafana ~9.x–10.2 (public/app/plugins/datasource/postgres/postgresMetaQuery.ts) ====================

-- source: grafana/grafana public/app/plugins/datasource/postgres/postgresMetaQuery.ts (stored commit 680d2f2ee9a69a593b69ba24dcf5945c05df1d6c; Grafana ~9.x–10.2 React query builder)
-- purpose: version detection (same text as current)
SELECT current_setting('server_version_num')::int/100 as version
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/postgresMetaQuery.ts (stored commit 680d2f2ee9a69a593b69ba24dcf5945c05df1d6c; Grafana ~9.x–10.2 React query builder)
-- purpose: timescaledb detection (same text as current)
SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/postgresMetaQuery.ts (stored commit 680d2f2ee9a69a593b69ba24dcf5945c05df1d6c; Grafana ~9.x–10.2 React query builder) showDatabases()
-- purpose: list databases
SELECT datname FROM pg_database WHERE datistemplate = false
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/postgresMetaQuery.ts (stored commit 680d2f2ee9a69a593b69ba24dcf5945c05df1d6c; Grafana ~9.x–10.2 React query builder) showTables()
-- purpose: list base tables on the search_path
select quote_ident(table_name) as "table" from information_schema.tables
    where quote_ident(table_schema) not in ('information_schema',
                             'pg_catalog',
                             '_timescaledb_cache',
                             '_timescaledb_catalog',
                             '_timescaledb_internal',
                             '_timescaledb_config',
                             'timescaledb_information',
                             'timescaledb_experimental')
      and table_type = 'BASE TABLE' and 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/postgresMetaQuery.ts (stored commit 680d2f2ee9a69a593b69ba24dcf5945c05df1d6c; Grafana ~9.x–10.2 React query builder) getSchema(table) — table 'bids' interpolated without escaping
-- purpose: list columns
select quote_ident(column_name) as "column", data_type as "type"
    from information_schema.columns
    where quote_ident(table_name) = 'bids'
;

-- ==================== legacy Angular editor (Grafana <= 9, public/app/plugins/datasource/postgres/meta_query.ts) ====================

-- source: grafana/grafana public/app/plugins/datasource/postgres/meta_query.ts (stored commit 027e669f230fd8228b4376f13363058b5bcd2f35; legacy Angular query editor, Grafana ≤ 9) findMetricTable()
-- purpose: pick a default table having a timestamp(tz) and a float8 column (new panel); correlated scalar subqueries, EXISTS
SELECT
	quote_ident(table_name) as table_name,
	( SELECT
	    quote_ident(column_name) as column_name
	  FROM information_schema.columns c
    WHERE
      c.table_schema = t.table_schema AND
      c.table_name = t.table_name AND
      udt_name IN ('timestamptz','timestamp')
    ORDER BY ordinal_position LIMIT 1
  ) AS time_column,
  ( SELECT
      quote_ident(column_name) AS column_name
    FROM information_schema.columns c
    WHERE
      c.table_schema = t.table_schema AND
      c.table_name = t.table_name AND
      udt_name='float8'
    ORDER BY ordinal_position LIMIT 1
  ) AS value_column
FROM information_schema.tables t
WHERE 
table_schema IN (
  SELECT
    CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
  FROM
    generate_series(
      array_lower(string_to_array(current_setting('search_path'),','),1),
      array_upper(string_to_array(current_setting('search_path'),','),1)
    ) as i,
    string_to_array(current_setting('search_path'),',') s
) AND
  EXISTS
  ( SELECT 1
    FROM information_schema.columns c
    WHERE
      c.table_schema = t.table_schema AND
      c.table_name = t.table_name AND
      udt_name IN ('timestamptz','timestamp')
  ) AND
  EXISTS
  ( SELECT 1
    FROM information_schema.columns c
    WHERE
      c.table_schema = t.table_schema AND
      c.table_name = t.table_name AND
      udt_name='float8'
  )
LIMIT 1
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/meta_query.ts (stored commit 027e669f230fd8228b4376f13363058b5bcd2f35; legacy Angular query editor, Grafana ≤ 9) buildTableQuery()
-- purpose: table dropdown
SELECT quote_ident(table_name) FROM information_schema.tables WHERE 
table_schema IN (
  SELECT
    CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
  FROM
    generate_series(
      array_lower(string_to_array(current_setting('search_path'),','),1),
      array_upper(string_to_array(current_setting('search_path'),','),1)
    ) as i,
    string_to_array(current_setting('search_path'),',') s
) ORDER BY table_name
;

-- source: risingwavelabs/risingwave#10134 (tracking: support for Grafana — 'The original queries'); = meta_query.ts buildTableQuery() + ' limit 100' as quoted in the issue
-- purpose: table dropdown, as captured by RisingWave (with limit 100)
-- note: risingwave #10134 comment: PostgreSQL binds string_to_array(...) in FROM as a table function (alias s), and columns ordinal_position/udt_name of information_schema.columns were needed
SELECT quote_ident(table_name) FROM information_schema.tables WHERE
quote_ident(table_schema) IN (
  SELECT
    CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
  FROM
    generate_series(
      array_lower(string_to_array(current_setting('search_path'),','),1),
      array_upper(string_to_array(current_setting('search_path'),','),1)
    ) as i,
    string_to_array(current_setting('search_path'),',') s
) ORDER BY table_name limit 100
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/meta_query.ts (stored commit 027e669f230fd8228b4376f13363058b5bcd2f35; legacy Angular query editor, Grafana ≤ 9) buildColumnQuery() (no type) — target.table 'bids'
-- purpose: column list
SELECT quote_ident(column_name) FROM information_schema.columns WHERE 
table_schema IN (
  SELECT
    CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
  FROM
    generate_series(
      array_lower(string_to_array(current_setting('search_path'),','),1),
      array_upper(string_to_array(current_setting('search_path'),','),1)
    ) as i,
    string_to_array(current_setting('search_path'),',') s
) AND table_name = 'bids' ORDER BY column_name
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/meta_query.ts (stored commit 027e669f230fd8228b4376f13363058b5bcd2f35; legacy Angular query editor, Grafana ≤ 9) buildColumnQuery('time') — table 'bids'
-- purpose: time-column candidates
SELECT quote_ident(column_name) FROM information_schema.columns WHERE 
table_schema IN (
  SELECT
    CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
  FROM
    generate_series(
      array_lower(string_to_array(current_setting('search_path'),','),1),
      array_upper(string_to_array(current_setting('search_path'),','),1)
    ) as i,
    string_to_array(current_setting('search_path'),',') s
) AND table_name = 'bids' AND data_type IN ('timestamp without time zone','timestamp with time zone','bigint','integer','double precision','real') ORDER BY column_name
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/meta_query.ts (stored commit 027e669f230fd8228b4376f13363058b5bcd2f35; legacy Angular query editor, Grafana ≤ 9) buildColumnQuery('metric') — table 'bids'
-- purpose: metric-column candidates
SELECT quote_ident(column_name) FROM information_schema.columns WHERE 
table_schema IN (
  SELECT
    CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
  FROM
    generate_series(
      array_lower(string_to_array(current_setting('search_path'),','),1),
      array_upper(string_to_array(current_setting('search_path'),','),1)
    ) as i,
    string_to_array(current_setting('search_path'),',') s
) AND table_name = 'bids' AND data_type IN ('text','character','character varying') ORDER BY column_name
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/meta_query.ts (stored commit 027e669f230fd8228b4376f13363058b5bcd2f35; legacy Angular query editor, Grafana ≤ 9) buildColumnQuery('value') — table 'bids', timeColumn 'date_time'
-- purpose: value-column candidates
SELECT quote_ident(column_name) FROM information_schema.columns WHERE 
table_schema IN (
  SELECT
    CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
  FROM
    generate_series(
      array_lower(string_to_array(current_setting('search_path'),','),1),
      array_upper(string_to_array(current_setting('search_path'),','),1)
    ) as i,
    string_to_array(current_setting('search_path'),',') s
) AND table_name = 'bids' AND data_type IN ('bigint','integer','double precision','real','numeric') AND column_name <> 'date_time' ORDER BY column_name
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/meta_query.ts (stored commit 027e669f230fd8228b4376f13363058b5bcd2f35; legacy Angular query editor, Grafana ≤ 9) buildColumnQuery('group') — table 'bids'
-- purpose: group-by column candidates
SELECT quote_ident(column_name) FROM information_schema.columns WHERE 
table_schema IN (
  SELECT
    CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
  FROM
    generate_series(
      array_lower(string_to_array(current_setting('search_path'),','),1),
      array_upper(string_to_array(current_setting('search_path'),','),1)
    ) as i,
    string_to_array(current_setting('search_path'),',') s
) AND table_name = 'bids' AND data_type IN ('text','character','character varying','uuid') ORDER BY column_name
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/meta_query.ts (stored commit 027e669f230fd8228b4376f13363058b5bcd2f35; legacy Angular query editor, Grafana ≤ 9) buildColumnQuery() — schema-qualified target.table 'public.bids'
-- purpose: column list for schema.table
SELECT quote_ident(column_name) FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'bids' ORDER BY column_name
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/meta_query.ts (stored commit 027e669f230fd8228b4376f13363058b5bcd2f35; legacy Angular query editor, Grafana ≤ 9) buildDatatypeQuery(column) — table 'bids', column 'price'
-- purpose: data type of a column
SELECT udt_name FROM information_schema.columns WHERE 
table_schema IN (
  SELECT
    CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
  FROM
    generate_series(
      array_lower(string_to_array(current_setting('search_path'),','),1),
      array_upper(string_to_array(current_setting('search_path'),','),1)
    ) as i,
    string_to_array(current_setting('search_path'),',') s
) AND table_name = 'bids' AND column_name = 'price'
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/meta_query.ts (stored commit 027e669f230fd8228b4376f13363058b5bcd2f35; legacy Angular query editor, Grafana ≤ 9) buildAggregateQuery()
-- purpose: aggregate functions over float8 (unqualified pg_aggregate/pg_proc/pg_type, aggkind)
SELECT DISTINCT proname FROM pg_aggregate INNER JOIN pg_proc ON pg_aggregate.aggfnoid = pg_proc.oid INNER JOIN pg_type ON pg_type.oid=pg_proc.prorettype WHERE pronargs=1 AND typname IN ('float8') AND aggkind='n' ORDER BY 1
;

-- ==================== newest backend schema API (schema.go) — sent by pgx with bind parameters ====================

-- source: grafana/grafana pkg/tsdb/grafana-postgresql-datasource/schema.go (stored commit 043dd88a47944c35205994c4da317e100dc9b12e; newest backend schema API, grafana/schemads) querySchemas
-- purpose: list schemas
SELECT schema_name FROM information_schema.schemata
		 WHERE schema_name NOT LIKE 'pg_%' AND schema_name != 'information_schema'
		 ORDER BY schema_name
;

-- source: grafana/grafana pkg/tsdb/grafana-postgresql-datasource/schema.go (stored commit 043dd88a47944c35205994c4da317e100dc9b12e; newest backend schema API, grafana/schemads) queryTables; $1='public' (inlined)
-- purpose: list tables and views of a schema
-- note: materialized views are not in information_schema.tables, so they do not appear here
SELECT table_name FROM information_schema.tables
		 WHERE table_schema = 'public' AND table_type IN ('BASE TABLE', 'VIEW')
		 ORDER BY table_name
;

-- source: grafana/grafana pkg/tsdb/grafana-postgresql-datasource/schema.go (stored commit 043dd88a47944c35205994c4da317e100dc9b12e; newest backend schema API, grafana/schemads) queryColumns; $1='public', $2='bids' (inlined)
-- purpose: list columns with type details
SELECT column_name, data_type, udt_name, numeric_precision, numeric_scale
		 FROM information_schema.columns
		 WHERE table_schema = 'public' AND table_name = 'bids'
		 ORDER BY ordinal_position
;

-- ==================== older 'Save & test' (Grafana 7.x–9.x frontend testDatasource) ====================

-- source: grafana/grafana public/app/plugins/datasource/postgres/datasource.ts testDatasource() (older versions; search-index file ids 156621706 (/api/tsdb/query) and 2208812773 (/api/ds/query)): rawSql: 'SELECT 1'
-- purpose: Save & test in Grafana <= 9 (run through the backend like any panel query)
SELECT 1
;

-- ==================== current 'Save & test' = driver ping, NOT SQL (send as raw simple-Query text) ====================
-- RAW (pgx, pkg/tsdb/grafana-postgresql-datasource/pgx/handler_checkhealth.go → pgxpool Ping): "-- ping"
-- RAW (lib/pq, pkg/tsdb/grafana-postgresql-datasource/sqleng/handler_checkhealth.go → lib/pq conn.Ping): ";"
-- Expected server reply to both: EmptyQueryResponse ('I') then ReadyForQuery ('Z').
