-- Metabase (PostgreSQL driver, via pgjdbc) — statements sent on "add database / test connection", on sync
-- (schemas, tables incl. materialized views + descriptions, privileges, fields, PKs, FKs) and result-set metadata.
-- Literal values replace bind parameters; each note says which. Relation oids that a driver would bind/inline: 16384.
-- Versions: v0.43.1 (risingwave #2613 list), v0.55.1 (datafusion-postgres #158 log + tests/metabase.rs),
-- v0.62.1.5 (a captured sync log found in the search index, file id 55699000340 — no repository/path is exposed
-- for that file), and the driver source src/metabase/driver/postgres.clj (metabase/metabase, stored commit
-- 008fd6675457cdd62da2265628bed3b725a607ea).

-- ==================== v0.43.1 connect path (risingwave #2613); pgjdbc-issued, in the order listed there ====================

-- source: risingwavelabs/risingwave#2613 (Metabase v0.43.1 → Materialize parser log, list by neverchanje)
-- purpose: pgjdbc implicit transaction start (autoCommit=false)
BEGIN
;

-- source: risingwavelabs/risingwave#2613 (Metabase v0.43.1 → Materialize parser log, list by neverchanje)
-- purpose: pgjdbc connection init
SET extra_float_digits = 3
;

-- source: risingwavelabs/risingwave#2613 (Metabase v0.43.1 → Materialize parser log, list by neverchanje)
-- purpose: pgjdbc connection init with Metabase's ApplicationName (UUID is per-instance)
SET application_name = 'Metabase v0.43.1 [01782033-fc52-4fda-9fa3-84a0b617bc88]'
;

-- source: risingwavelabs/risingwave#2613 (Metabase v0.43.1 → Materialize parser log, list by neverchanje)
-- purpose: end of pgjdbc init transaction
COMMIT
;

-- source: risingwavelabs/risingwave#2613 (Metabase v0.43.1 → Materialize parser log, list by neverchanje)
-- purpose: pgjdbc Connection.getTransactionIsolation()
SHOW TRANSACTION ISOLATION LEVEL
;

-- source: risingwavelabs/risingwave#2613 (Metabase v0.43.1 → Materialize parser log, list by neverchanje)
-- purpose: pgjdbc setTransactionIsolation(READ_UNCOMMITTED) — Metabase sync/queries run at READ UNCOMMITTED
SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ UNCOMMITTED
;

-- source: risingwavelabs/risingwave#2613 (Metabase v0.43.1 → Materialize parser log, list by neverchanje)
-- purpose: pgjdbc read-only connection (Metabase marks query connections read-only) → BEGIN READ ONLY
BEGIN READ ONLY
;

-- source: risingwavelabs/risingwave#2613 (Metabase v0.43.1 → Materialize parser log, list by neverchanje)
-- purpose: end of read-only transaction
ROLLBACK
;

-- ==================== v0.55.1 / v0.62.1.5 connect + test connection ====================

-- source: metabase/metabase src/metabase/driver/sql_jdbc/connection.clj can-connect-with-spec? (jdbc/query jdbc-spec ["SELECT 1"]); observed in datafusion-contrib/datafusion-postgres#158 (Metabase v0.55.1 startup log) and datafusion-contrib/datafusion-postgres datafusion-postgres/tests/metabase.rs and search-index file id 55699000340: 'Captured from Metabase v0.62.1.5 syncing a real Postgres 16 with 2 demo tables' (repository not exposed by the index)
-- purpose: test connection (Admin > Databases > Save) / can-connect?
SELECT 1
;

-- source: datafusion-contrib/datafusion-postgres#158 (Metabase v0.55.1 startup log) and datafusion-contrib/datafusion-postgres datafusion-postgres/tests/metabase.rs
-- purpose: pgjdbc init as logged against datafusion-postgres (pgjdbc sends 2 when the server reports a version < 9.0; against server_version 16.6 pgjdbc 42.x sends 'SET extra_float_digits = 3', see pgjdbc_metadata.sql)
SET extra_float_digits = 2
;

-- source: datafusion-contrib/datafusion-postgres#158 (Metabase v0.55.1 startup log) and datafusion-contrib/datafusion-postgres datafusion-postgres/tests/metabase.rs
-- purpose: pgjdbc init, ApplicationName set by Metabase (UUID per instance)
SET application_name = 'Metabase v0.55.1 [f8f63fdf-d8f8-4573-86ea-4fe4a9548041]'
;

-- source: search-index file id 55699000340: 'Captured from Metabase v0.62.1.5 syncing a real Postgres 16 with 2 demo tables' (repository not exposed by the index)
-- purpose: same, v0.62.1.5
SET application_name = 'Metabase v0.62.1.5 [d4fe74c4-96c3-4812-b3ae-35e513752b13]'
;

-- source: datafusion-contrib/datafusion-postgres#158 (Metabase v0.55.1 startup log) and datafusion-contrib/datafusion-postgres datafusion-postgres/tests/metabase.rs; search-index file id 55699000340: 'Captured from Metabase v0.62.1.5 syncing a real Postgres 16 with 2 demo tables' (repository not exposed by the index)
-- purpose: pgjdbc getTransactionIsolation()
SHOW TRANSACTION ISOLATION LEVEL
;

-- source: search-index file id 55699000340: 'Captured from Metabase v0.62.1.5 syncing a real Postgres 16 with 2 demo tables' (repository not exposed by the index)
-- purpose: observed in v0.62.1.5 capture right after connect (pgjdbc 42.7 Connection.getCatalog()/Metabase catalog probe — origin not verified in source)
select current_catalog
;

-- source: datafusion-contrib/datafusion-postgres#158 (Metabase v0.55.1 startup log) and datafusion-contrib/datafusion-postgres datafusion-postgres/tests/metabase.rs; search-index file id 55699000340: 'Captured from Metabase v0.62.1.5 syncing a real Postgres 16 with 2 demo tables' (repository not exposed by the index)
-- purpose: pgjdbc setTransactionIsolation(READ_UNCOMMITTED) before sync
SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ UNCOMMITTED
;

-- source: datafusion-contrib/datafusion-postgres#158 (Metabase v0.55.1 startup log) and datafusion-contrib/datafusion-postgres datafusion-postgres/tests/metabase.rs; search-index file id 55699000340: 'Captured from Metabase v0.62.1.5 syncing a real Postgres 16 with 2 demo tables' (repository not exposed by the index)
-- purpose: pgjdbc setTransactionIsolation(READ_COMMITTED) when the connection is returned
SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED
;

-- source: metabase/metabase src/metabase/driver/postgres.clj (driver/db-default-timezone: (.prepareStatement conn "show timezone;")); also in datafusion-contrib/datafusion-postgres#158 (Metabase v0.55.1 startup log) and datafusion-contrib/datafusion-postgres datafusion-postgres/tests/metabase.rs and search-index file id 55699000340: 'Captured from Metabase v0.62.1.5 syncing a real Postgres 16 with 2 demo tables' (repository not exposed by the index)
-- purpose: detect DB default timezone during sync
show timezone
;

-- ==================== sync: schemas, privileges, tables ====================

-- source: datafusion-contrib/datafusion-postgres#158 (Metabase v0.55.1 startup log) and datafusion-contrib/datafusion-postgres datafusion-postgres/tests/metabase.rs; search-index file id 55699000340: 'Captured from Metabase v0.62.1.5 syncing a real Postgres 16 with 2 demo tables' (repository not exposed by the index)
-- purpose: metabase sql-jdbc all-schemas → pgjdbc 42.7.x DatabaseMetaData.getSchemas() (42.7 form: current_database() AS "TABLE_CATALOG", quoted aliases). The 42.5.5 form is in pgjdbc_metadata.sql
SELECT nspname AS "TABLE_SCHEM", current_database() AS "TABLE_CATALOG" FROM pg_catalog.pg_namespace  WHERE nspname <> 'pg_toast' AND (nspname !~ '^pg_temp_'  OR nspname = (pg_catalog.current_schemas(true))[1]) AND (nspname !~ '^pg_toast_temp_'  OR nspname = replace((pg_catalog.current_schemas(true))[1], 'pg_temp_', 'pg_toast_temp_'))  ORDER BY "TABLE_SCHEM"
;

-- source: metabase/metabase src/metabase/driver/postgres.clj (sql-jdbc.sync/current-user-table-privileges :postgres, lines joined with "\n"); identical text in datafusion-contrib/datafusion-postgres#158 (Metabase v0.55.1 startup log) and datafusion-contrib/datafusion-postgres datafusion-postgres/tests/metabase.rs and search-index file id 55699000340: 'Captured from Metabase v0.62.1.5 syncing a real Postgres 16 with 2 demo tables' (repository not exposed by the index)
-- purpose: table privileges: which tables/views/materialized views the connecting user can select/insert/update/delete (used to filter synced tables and for writable tables)
-- note: no bind parameters; note 'pg_catalog.pg_matviews', has_any_column_privilege(name,text,text), has_table_privilege, has_schema_privilege, regex operator !~
with table_privileges as (
 select
   NULL as role,
   t.schemaname as schema,
   t.objectname as table,
   pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'update') as update,
   pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'select') as select,
   pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'insert') as insert,
   pg_catalog.has_table_privilege(     current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'delete') as delete
 from (
   select schemaname, tablename as objectname from pg_catalog.pg_tables
   union
   select schemaname, viewname as objectname from pg_catalog.pg_views
   union
   select schemaname, matviewname as objectname from pg_catalog.pg_matviews
 ) t
 where t.schemaname !~ '^pg_'
   and t.schemaname <> 'information_schema'
   and pg_catalog.has_schema_privilege(current_user, t.schemaname, 'usage')
)
select t.*
from table_privileges t
;

-- source: datafusion-contrib/datafusion-postgres#158 (Metabase v0.55.1 startup log) and datafusion-contrib/datafusion-postgres datafusion-postgres/tests/metabase.rs
-- purpose: describe-database (get-tables-sql) as issued by v0.55.1 — tables, partitioned tables, views, foreign tables and materialized views with their descriptions (pg_description) and row estimate (pg_stat_user_tables); schema 'public' was a bind parameter (shown inlined, as in the datafusion test); objsubid parameter inlined as '0' by that test
-- note: source HoneySQL: metabase/metabase src/metabase/driver/postgres.clj get-tables-sql; rendered with {:dialect :ansi}. Note unqualified "pg_stat_user_tables" (risingwave #17753: 'pg_stat_user_tables is missing for metabase support')
SELECT "n"."nspname" AS "schema", "c"."relname" AS "name", CASE "c"."relkind" WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' WHEN 'v' THEN 'VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE NULL END AS "type", "d"."description" AS "description", "stat"."n_live_tup" AS "estimated_row_count" FROM "pg_catalog"."pg_class" AS "c" INNER JOIN "pg_catalog"."pg_namespace" AS "n" ON "c"."relnamespace" = "n"."oid" LEFT JOIN "pg_catalog"."pg_description" AS "d" ON ("c"."oid" = "d"."objoid") AND ("d"."objsubid" = '0') AND ("d"."classoid" = 'pg_class'::regclass) LEFT JOIN "pg_stat_user_tables" AS "stat" ON ("n"."nspname" = "stat"."schemaname") AND ("c"."relname" = "stat"."relname") WHERE ("c"."relnamespace" = "n"."oid") AND ("n"."nspname" !~ '^pg_') AND ("n"."nspname" <> 'information_schema') AND c.relkind in ('r', 'p', 'v', 'f', 'm') AND ("n"."nspname" IN ('public')) ORDER BY "type" ASC, "schema" ASC, "name" ASC
;

-- source: search-index file id 55699000340: 'Captured from Metabase v0.62.1.5 syncing a real Postgres 16 with 2 demo tables' (repository not exposed by the index)
-- purpose: describe-database (get-tables-sql) as issued by v0.62.1.5 (adds NULLIF(n_live_tup, 0)); binds: $1=0, $2=0, $3='^pg_', $4='information_schema', $5='public' (all inlined here)
-- note: the capture logged the parameter values as '0','0' (PostgreSQL logs all params quoted); they are numeric binds
SELECT "n"."nspname" AS "schema", "c"."relname" AS "name", CASE "c"."relkind" WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' WHEN 'v' THEN 'VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE NULL END AS "type", "d"."description" AS "description", NULLIF("stat"."n_live_tup", 0) AS "estimated_row_count" FROM "pg_catalog"."pg_class" AS "c" INNER JOIN "pg_catalog"."pg_namespace" AS "n" ON "c"."relnamespace" = "n"."oid" LEFT JOIN "pg_catalog"."pg_description" AS "d" ON ("c"."oid" = "d"."objoid") AND ("d"."objsubid" = 0) AND ("d"."classoid" = 'pg_class'::regclass) LEFT JOIN "pg_stat_user_tables" AS "stat" ON ("n"."nspname" = "stat"."schemaname") AND ("c"."relname" = "stat"."relname") WHERE ("c"."relnamespace" = "n"."oid") AND ("n"."nspname" !~ '^pg_') AND ("n"."nspname" <> 'information_schema') AND c.relkind in ('r', 'p', 'v', 'f', 'm') AND ("n"."nspname" IN ('public')) ORDER BY "type" ASC, "schema" ASC, "name" ASC
;

-- source: metabase/metabase src/metabase/driver/sql_jdbc/sync/describe_database.clj simple-select-probe-query; rendered text from Metabase test (test/metabase/driver/sql_jdbc/sync/describe_database_test.clj: "SELECT TRUE AS \"_\" FROM \"schema\".\"wow\" WHERE 1 <> 1 LIMIT 0")
-- purpose: SELECT-privilege probe; for :postgres only used for FOREIGN TABLEs (other relations use the table_privileges query above); older Metabase (before :table-privileges) ran it for every table
SELECT TRUE AS "_" FROM "public"."bids" WHERE 1 <> 1 LIMIT 0
;

-- ==================== sync: fields, enums, PKs, FKs ====================

-- source: metabase/metabase src/metabase/driver/postgres.clj (enum-types); identical in search-index file id 55699000340: 'Captured from Metabase v0.62.1.5 syncing a real Postgres 16 with 2 demo tables' (repository not exposed by the index)
-- purpose: load enum type names (describe-fields-pre-process-xf / dynamic-database-types-lookup)
-- note: unqualified pg_type/pg_namespace/pg_enum
SELECT nspname, typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid IN (SELECT DISTINCT enumtypid FROM pg_enum e)
;

-- source: search-index file id 55699000340: 'Captured from Metabase v0.62.1.5 syncing a real Postgres 16 with 2 demo tables' (repository not exposed by the index); HoneySQL source: metabase/metabase src/metabase/driver/postgres.clj sql-jdbc.sync/describe-fields-sql :postgres
-- purpose: describe-fields: all columns of synced tables via information_schema.columns (+ PK via table_constraints/key_column_usage, comments via col_description(format('%I.%I')::regclass::oid)), UNION ALL materialized-view columns from pg_attribute (information_schema.columns does not list matviews). Binds: $1='ALWAYS', $2='public', $3='public' (inlined)
-- note: risingwave #17753 comment: metabase/metabase PR #50102 changed this query and RisingWave MV columns stopped being reflected — the UNION ALL pg_attribute branch (relkind 'm') is what lists materialized-view columns
SELECT "c"."column_name" AS "name", CASE WHEN "c"."udt_schema" IN ('public', 'pg_catalog') THEN FORMAT('%s', "c"."udt_name") ELSE FORMAT('"%s"."%s"', "c"."udt_schema", "c"."udt_name") END AS "database-type", "c"."ordinal_position" - 1 AS "database-position", "c"."table_schema" AS "table-schema", "c"."table_name" AS "table-name", "pk"."column_name" IS NOT NULL AS "pk?", COL_DESCRIPTION(CAST(CAST(FORMAT('%I.%I', CAST("c"."table_schema" AS TEXT), CAST("c"."table_name" AS TEXT)) AS REGCLASS) AS OID), "c"."ordinal_position") AS "field-comment", (("column_default" IS NULL) OR (LOWER("column_default") = 'null')) AND ("is_nullable" = 'NO') AND NOT ((("column_default" IS NOT NULL) AND ("column_default" LIKE '%nextval(%')) OR ("is_identity" <> 'NO')) AS "database-required", "column_default" AS "database-default", (("column_default" IS NOT NULL) AND ("column_default" LIKE '%nextval(%')) OR ("is_identity" <> 'NO') AS "database-is-auto-increment", "is_generated" = 'ALWAYS' AS "database-is-generated", "is_nullable" = 'YES' AS "database-is-nullable" FROM "information_schema"."columns" AS "c" LEFT JOIN (SELECT "tc"."table_schema", "tc"."table_name", "kc"."column_name" FROM "information_schema"."table_constraints" AS "tc" INNER JOIN "information_schema"."key_column_usage" AS "kc" ON ("tc"."constraint_name" = "kc"."constraint_name") AND ("tc"."table_schema" = "kc"."table_schema") AND ("tc"."table_name" = "kc"."table_name") WHERE "tc"."constraint_type" = 'PRIMARY KEY') AS "pk" ON ("c"."table_schema" = "pk"."table_schema") AND ("c"."table_name" = "pk"."table_name") AND ("c"."column_name" = "pk"."column_name") WHERE c.table_schema !~ '^information_schema|catalog_history|pg_' AND ("c"."table_schema" IN ('public')) UNION ALL SELECT "pa"."attname" AS "name", CASE WHEN "ptn"."nspname" IN ('public', 'pg_catalog') THEN FORMAT('%s', "pt"."typname") ELSE FORMAT('"%s"."%s"', "ptn"."nspname", "pt"."typname") END AS "database-type", "pa"."attnum" - 1 AS "database-position", "pn"."nspname" AS "table-schema", "pc"."relname" AS "table-name", FALSE AS "pk?", NULL AS "field-comment", FALSE AS "database-required", NULL AS "database-default", FALSE AS "database-is-auto-increment", FALSE AS "database-is-generated", FALSE AS "database-is-nullable" FROM "pg_catalog"."pg_class" AS "pc" INNER JOIN "pg_catalog"."pg_namespace" AS "pn" ON "pn"."oid" = "pc"."relnamespace" INNER JOIN "pg_catalog"."pg_attribute" AS "pa" ON "pa"."attrelid" = "pc"."oid" INNER JOIN "pg_catalog"."pg_type" AS "pt" ON "pt"."oid" = "pa"."atttypid" INNER JOIN "pg_catalog"."pg_namespace" AS "ptn" ON "ptn"."oid" = "pt"."typnamespace" WHERE ("pc"."relkind" = 'm') AND ("pa"."attnum" >= 1) AND ("pn"."nspname" IN ('public')) ORDER BY "table-schema" ASC, "table-name" ASC, "database-position" ASC
;

-- source: search-index file id 55699000340: 'Captured from Metabase v0.62.1.5 syncing a real Postgres 16 with 2 demo tables' (repository not exposed by the index)
-- purpose: pgjdbc 42.7.x DatabaseMetaData.getColumns(null, 'public', 'bids', null) issued during v0.62.1.5 sync; binds $1='public', $2='bids' (inlined; pgjdbc 42.7 binds the LIKE patterns). 42.5.5 form: pgjdbc_metadata.sql
SELECT * FROM (SELECT current_database() AS current_database, n.nspname,c.relname,a.attname,a.atttypid,a.attnotnull  OR (t.typtype = 'd' AND t.typnotnull) AS attnotnull,a.atttypmod,a.attlen,t.typtypmod,row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) AS attnum, nullif(a.attidentity, '') as attidentity,nullif(a.attgenerated, '') as attgenerated,pg_catalog.pg_get_expr(def.adbin, def.adrelid) AS adsrc,dsc.description,t.typbasetype,t.typtype  FROM pg_catalog.pg_namespace n  JOIN pg_catalog.pg_class c ON (c.relnamespace = n.oid)  JOIN pg_catalog.pg_attribute a ON (a.attrelid=c.oid)  JOIN pg_catalog.pg_type t ON (a.atttypid = t.oid)  LEFT JOIN pg_catalog.pg_attrdef def ON (a.attrelid=def.adrelid AND a.attnum = def.adnum)  LEFT JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)  LEFT JOIN pg_catalog.pg_class dc ON (dc.oid=dsc.classoid AND dc.relname='pg_class')  LEFT JOIN pg_catalog.pg_namespace dn ON (dc.relnamespace=dn.oid AND dn.nspname='pg_catalog')  WHERE c.relkind in ('r','p','v','f','m') and a.attnum > 0 AND NOT a.attisdropped  AND n.nspname LIKE 'public' AND c.relname LIKE 'bids') c WHERE true  ORDER BY nspname,c.relname,attnum
;

-- source: search-index file id 55699000340: 'Captured from Metabase v0.62.1.5 syncing a real Postgres 16 with 2 demo tables' (repository not exposed by the index)
-- purpose: pgjdbc 42.7.x DatabaseMetaData.getPrimaryKeys(null, 'public', 'bids'), one call per table; binds $1='public', $2='bids' (inlined). Note the missing space in '"PK_NAME"FROM' is verbatim
-- note: needs information_schema._pg_expandarray(int2vector) returning a record with fields x and n
SELECT        result.TABLE_CAT AS "TABLE_CAT",        result.TABLE_SCHEM AS "TABLE_SCHEM",        result.TABLE_NAME AS "TABLE_NAME",        result.COLUMN_NAME AS "COLUMN_NAME",        result.KEY_SEQ AS "KEY_SEQ",        result.PK_NAME AS "PK_NAME"FROM      (SELECT current_database() AS TABLE_CAT, n.nspname AS TABLE_SCHEM,   ct.relname AS TABLE_NAME, a.attname AS COLUMN_NAME,   (information_schema._pg_expandarray(i.indkey)).n AS KEY_SEQ, ci.relname AS PK_NAME,   information_schema._pg_expandarray(i.indkey) AS KEYS, a.attnum AS A_ATTNUM, i.indnkeyatts as KEY_COUNT FROM pg_catalog.pg_class ct   JOIN pg_catalog.pg_attribute a ON (ct.oid = a.attrelid)   JOIN pg_catalog.pg_namespace n ON (ct.relnamespace = n.oid)   JOIN pg_catalog.pg_index i ON ( a.attrelid = i.indrelid)   JOIN pg_catalog.pg_class ci ON (ci.oid = i.indexrelid) WHERE true  AND n.nspname = 'public' AND ct.relname = 'bids' AND i.indisprimary  ) result where  result.A_ATTNUM = (result.KEYS).x AND result.KEY_SEQ <= KEY_COUNT  ORDER BY result.table_name, result.pk_name, result.key_seq
;

-- source: search-index file id 55699000340: 'Captured from Metabase v0.62.1.5 syncing a real Postgres 16 with 2 demo tables' (repository not exposed by the index); HoneySQL source: metabase/metabase src/metabase/driver/postgres.clj sql-jdbc.sync/describe-fks-sql :postgres
-- purpose: describe-fks: foreign keys of synced schemas; bind $1='public' (inlined)
-- note: unqualified pg_constraint/pg_class/pg_namespace/pg_attribute; 'f'::char cast; = ANY(int2[])
SELECT "fk_ns"."nspname" AS "fk-table-schema", "fk_table"."relname" AS "fk-table-name", "fk_column"."attname" AS "fk-column-name", "pk_ns"."nspname" AS "pk-table-schema", "pk_table"."relname" AS "pk-table-name", "pk_column"."attname" AS "pk-column-name" FROM "pg_constraint" AS "c" INNER JOIN "pg_class" AS "fk_table" ON "c"."conrelid" = "fk_table"."oid" INNER JOIN "pg_namespace" AS "fk_ns" ON "c"."connamespace" = "fk_ns"."oid" INNER JOIN "pg_attribute" AS "fk_column" ON "c"."conrelid" = "fk_column"."attrelid" INNER JOIN "pg_class" AS "pk_table" ON "c"."confrelid" = "pk_table"."oid" INNER JOIN "pg_namespace" AS "pk_ns" ON "pk_table"."relnamespace" = "pk_ns"."oid" INNER JOIN "pg_attribute" AS "pk_column" ON "c"."confrelid" = "pk_column"."attrelid" WHERE fk_ns.nspname !~ '^information_schema|catalog_history|pg_' AND ("c"."contype" = 'f'::char) AND ("fk_column"."attnum" = ANY(c.conkey)) AND ("pk_column"."attnum" = ANY(c.confkey)) AND ("fk_ns"."nspname" IN ('public')) ORDER BY "fk-table-schema" ASC, "fk-table-name" ASC
;

-- source: search-index file id 55699000340: 'Captured from Metabase v0.62.1.5 syncing a real Postgres 16 with 2 demo tables' (repository not exposed by the index)
-- purpose: pgjdbc 42.7 ResultSetMetaData field metadata (isNullable/isAutoIncrement) after a sample query; table oid and attnums are concatenated into the SQL by pgjdbc — oid written as 16384, columns 2,3,4 as captured
SELECT c.oid, a.attnum, a.attname, c.relname, n.nspname, a.attnotnull OR (t.typtype = 'd' AND t.typnotnull), a.attidentity != '' OR pg_catalog.pg_get_expr(d.adbin, d.adrelid) LIKE '%nextval(%' FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON (c.relnamespace = n.oid) JOIN pg_catalog.pg_attribute a ON (c.oid = a.attrelid) JOIN pg_catalog.pg_type t ON (a.atttypid = t.oid) LEFT JOIN pg_catalog.pg_attrdef d ON (d.adrelid = a.attrelid AND d.adnum = a.attnum) JOIN (SELECT 16384 AS oid , 2 AS attnum UNION ALL SELECT 16384, 3 UNION ALL SELECT 16384, 4) vals ON (c.oid = vals.oid AND a.attnum = vals.attnum) where c.oid in (16384)
;

-- ==================== sync: fingerprint/scan sample queries (data, not catalog) — verbatim from the v0.62.1.5 capture ====================
-- tables there were public.customers / public.orders; here they read Sluice's test stream bids and view bids_mv

-- source: search-index file id 55699000340: 'Captured from Metabase v0.62.1.5 syncing a real Postgres 16 with 2 demo tables' (repository not exposed by the index)
-- purpose: fingerprinting sample of text columns (leading comment '-- Metabase' is part of the statement text)
-- Metabase
	SELECT SUBSTRING("public"."bids"."channel", 1, 1234) AS "substring4476" FROM "public"."bids" LIMIT 10000
;

-- source: search-index file id 55699000340: 'Captured from Metabase v0.62.1.5 syncing a real Postgres 16 with 2 demo tables' (repository not exposed by the index)
-- purpose: fingerprinting sample
-- Metabase
	SELECT "public"."bids_mv"."auction" AS "auction", "public"."bids_mv"."n" AS "n", "public"."bids_mv"."top" AS "top" FROM "public"."bids_mv" LIMIT 10000
;

-- source: search-index file id 55699000340: 'Captured from Metabase v0.62.1.5 syncing a real Postgres 16 with 2 demo tables' (repository not exposed by the index)
-- purpose: GUI question (MBQL) — remark comment precedes the SQL
-- Metabase:: userID: 1 queryType: MBQL queryHash: a54de39466cbf3e82ff09c5a9a2bccf1f922bf9fd59b2717c1ad5e09a1c0bfbc
	SELECT COUNT(*) AS "count" FROM "public"."bids_mv"
;
