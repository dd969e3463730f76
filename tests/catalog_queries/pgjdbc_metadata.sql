-- pgjdbc (PostgreSQL JDBC driver) catalog SQL, as built by pgjdbc 42.5.5 (Debian 12) for a server
-- reporting server_version 16.6 with standard_conforming_strings = on (so escapeQuotes() emits '...' not E'...').
-- These strings were assembled from the driver's own compiled string constants (javap / constant pool of the
-- 42.5.5 jar), following the code paths in the bytecode; whitespace is exactly as pgjdbc sends it. In 42.5.x the
-- DatabaseMetaData SQL is sent through Statement.executeQuery (extended protocol Parse/Bind/Execute, but with the
-- patterns already inlined as '...' literals, no bind parameters). TypeInfoCache queries DO use bind parameters;
-- their values are inlined here and named in each note.
-- Used by: Metabase (schemas; tables before v0.49-ish; columns / primary keys), DBeaver (getSQLKeywords,
-- TypeInfoCache), DataGrip, Tableau(JDBC), any JDBC tool.  Patterns: schema 'public', table 'bids', column '%'.
-- 42.7.x variants (current_database() AS TABLE_CAT, bind parameters $1/$2) are in metabase.sql (observed captures).

-- ==================== connection start-up (QueryExecutor / ConnectionFactoryImpl) ====================

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/core/v3/ConnectionFactoryImpl (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/core/v3/ConnectionFactoryImpl.java (tag REL42.5.5)
-- purpose: connection init when assumeMinServerVersion < 9.0 (the default): pgjdbc sends this right after authentication
SET extra_float_digits = 3
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/core/v3/ConnectionFactoryImpl (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/core/v3/ConnectionFactoryImpl.java (tag REL42.5.5)
-- purpose: connection init: ApplicationName property (default 'PostgreSQL JDBC Driver'; Metabase/DBeaver override it, see their files)
SET application_name = 'PostgreSQL JDBC Driver'
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/PgConnection (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/PgConnection.java (tag REL42.5.5)
-- purpose: Connection.getTransactionIsolation()
SHOW TRANSACTION ISOLATION LEVEL
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/PgConnection (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/PgConnection.java (tag REL42.5.5)
-- purpose: Connection.setTransactionIsolation(TRANSACTION_READ_UNCOMMITTED) (Metabase does this before sync)
SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ UNCOMMITTED
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/PgConnection (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/PgConnection.java (tag REL42.5.5)
-- purpose: Connection.setTransactionIsolation(TRANSACTION_READ_COMMITTED)
SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/PgConnection (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/PgConnection.java (tag REL42.5.5)
-- purpose: Connection.setReadOnly(true) with readOnlyMode=always
SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/PgConnection (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/PgConnection.java (tag REL42.5.5)
-- purpose: Connection.getSchema()
select current_schema()
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/core/v3/QueryExecutorImpl (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/core/v3/QueryExecutorImpl.java (tag REL42.5.5)
-- purpose: implicit transaction start when autoCommit=false (sent as its own Parse/Bind/Execute before the first statement)
BEGIN
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/core/v3/QueryExecutorImpl (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/core/v3/QueryExecutorImpl.java (tag REL42.5.5)
-- purpose: implicit transaction start when autoCommit=false and the connection is read-only (readOnlyMode=transaction, the default) — Metabase does this, see risingwave #2613
BEGIN READ ONLY
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/PgConnection (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/PgConnection.java (tag REL42.5.5)
-- purpose: Connection.commit()
COMMIT
;

-- source: pgjdbc Connection.rollback() (seen in risingwavelabs/risingwave#2613 Metabase list)
-- purpose: Connection.rollback()
ROLLBACK
;

-- ==================== DatabaseMetaData ====================

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/PgDatabaseMetaData (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/PgDatabaseMetaData.java (tag REL42.5.5)
-- purpose: DatabaseMetaData.getSchemas() / getSchemas(null, null)  (Metabase all-schemas)
SELECT nspname AS TABLE_SCHEM, NULL AS TABLE_CATALOG FROM pg_catalog.pg_namespace  WHERE nspname <> 'pg_toast' AND (nspname !~ '^pg_temp_'  OR nspname = (pg_catalog.current_schemas(true))[1]) AND (nspname !~ '^pg_toast_temp_'  OR nspname = replace((pg_catalog.current_schemas(true))[1], 'pg_temp_', 'pg_toast_temp_'))  ORDER BY TABLE_SCHEM
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/PgDatabaseMetaData (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/PgDatabaseMetaData.java (tag REL42.5.5)
-- purpose: DatabaseMetaData.getSchemas(null, 'public')
SELECT nspname AS TABLE_SCHEM, NULL AS TABLE_CATALOG FROM pg_catalog.pg_namespace  WHERE nspname <> 'pg_toast' AND (nspname !~ '^pg_temp_'  OR nspname = (pg_catalog.current_schemas(true))[1]) AND (nspname !~ '^pg_toast_temp_'  OR nspname = replace((pg_catalog.current_schemas(true))[1], 'pg_temp_', 'pg_toast_temp_'))  AND nspname LIKE 'public' ORDER BY TABLE_SCHEM
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/PgDatabaseMetaData (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/PgDatabaseMetaData.java (tag REL42.5.5)
-- purpose: DatabaseMetaData.getTables(null, 'public', '%', {TABLE, VIEW, MATERIALIZED VIEW})
SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM, c.relname AS TABLE_NAME,  CASE n.nspname ~ '^pg_' OR n.nspname = 'information_schema'  WHEN true THEN CASE  WHEN n.nspname = 'pg_catalog' OR n.nspname = 'information_schema' THEN CASE c.relkind   WHEN 'r' THEN 'SYSTEM TABLE'   WHEN 'v' THEN 'SYSTEM VIEW'   WHEN 'i' THEN 'SYSTEM INDEX'   ELSE NULL   END  WHEN n.nspname = 'pg_toast' THEN CASE c.relkind   WHEN 'r' THEN 'SYSTEM TOAST TABLE'   WHEN 'i' THEN 'SYSTEM TOAST INDEX'   ELSE NULL   END  ELSE CASE c.relkind   WHEN 'r' THEN 'TEMPORARY TABLE'   WHEN 'p' THEN 'TEMPORARY TABLE'   WHEN 'i' THEN 'TEMPORARY INDEX'   WHEN 'S' THEN 'TEMPORARY SEQUENCE'   WHEN 'v' THEN 'TEMPORARY VIEW'   ELSE NULL   END  END  WHEN false THEN CASE c.relkind  WHEN 'r' THEN 'TABLE'  WHEN 'p' THEN 'PARTITIONED TABLE'  WHEN 'i' THEN 'INDEX'  WHEN 'P' then 'PARTITIONED INDEX'  WHEN 'S' THEN 'SEQUENCE'  WHEN 'v' THEN 'VIEW'  WHEN 'c' THEN 'TYPE'  WHEN 'f' THEN 'FOREIGN TABLE'  WHEN 'm' THEN 'MATERIALIZED VIEW'  ELSE NULL  END  ELSE NULL  END  AS TABLE_TYPE, d.description AS REMARKS,  '' as TYPE_CAT, '' as TYPE_SCHEM, '' as TYPE_NAME, '' AS SELF_REFERENCING_COL_NAME, '' AS REF_GENERATION  FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c  LEFT JOIN pg_catalog.pg_description d ON (c.oid = d.objoid AND d.objsubid = 0  and d.classoid = 'pg_class'::regclass)  WHERE c.relnamespace = n.oid  AND n.nspname LIKE 'public' AND c.relname LIKE '%' AND (false  OR ( c.relkind = 'r' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' )  OR ( c.relkind = 'v' AND n.nspname <> 'pg_catalog' AND n.nspname <> 'information_schema' )  OR ( c.relkind = 'm' ) )  ORDER BY TABLE_TYPE,TABLE_SCHEM,TABLE_NAME
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/PgDatabaseMetaData (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/PgDatabaseMetaData.java (tag REL42.5.5)
-- purpose: DatabaseMetaData.getTables(null, 'public', '%', {TABLE, PARTITIONED TABLE, VIEW, FOREIGN TABLE, MATERIALIZED VIEW, EXTERNAL TABLE, DYNAMIC_TABLE}) — the type list Metabase's sql-jdbc db-tables passes (EXTERNAL TABLE / DYNAMIC_TABLE are unknown to pgjdbc and dropped)
-- note: metabase/metabase src/metabase/driver/sql_jdbc/sync/describe_database.clj db-tables: (.getTables metadata nil schema "%" [...])
SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM, c.relname AS TABLE_NAME,  CASE n.nspname ~ '^pg_' OR n.nspname = 'information_schema'  WHEN true THEN CASE  WHEN n.nspname = 'pg_catalog' OR n.nspname = 'information_schema' THEN CASE c.relkind   WHEN 'r' THEN 'SYSTEM TABLE'   WHEN 'v' THEN 'SYSTEM VIEW'   WHEN 'i' THEN 'SYSTEM INDEX'   ELSE NULL   END  WHEN n.nspname = 'pg_toast' THEN CASE c.relkind   WHEN 'r' THEN 'SYSTEM TOAST TABLE'   WHEN 'i' THEN 'SYSTEM TOAST INDEX'   ELSE NULL   END  ELSE CASE c.relkind   WHEN 'r' THEN 'TEMPORARY TABLE'   WHEN 'p' THEN 'TEMPORARY TABLE'   WHEN 'i' THEN 'TEMPORARY INDEX'   WHEN 'S' THEN 'TEMPORARY SEQUENCE'   WHEN 'v' THEN 'TEMPORARY VIEW'   ELSE NULL   END  END  WHEN false THEN CASE c.relkind  WHEN 'r' THEN 'TABLE'  WHEN 'p' THEN 'PARTITIONED TABLE'  WHEN 'i' THEN 'INDEX'  WHEN 'P' then 'PARTITIONED INDEX'  WHEN 'S' THEN 'SEQUENCE'  WHEN 'v' THEN 'VIEW'  WHEN 'c' THEN 'TYPE'  WHEN 'f' THEN 'FOREIGN TABLE'  WHEN 'm' THEN 'MATERIALIZED VIEW'  ELSE NULL  END  ELSE NULL  END  AS TABLE_TYPE, d.description AS REMARKS,  '' as TYPE_CAT, '' as TYPE_SCHEM, '' as TYPE_NAME, '' AS SELF_REFERENCING_COL_NAME, '' AS REF_GENERATION  FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c  LEFT JOIN pg_catalog.pg_description d ON (c.oid = d.objoid AND d.objsubid = 0  and d.classoid = 'pg_class'::regclass)  WHERE c.relnamespace = n.oid  AND n.nspname LIKE 'public' AND c.relname LIKE '%' AND (false  OR ( c.relkind = 'r' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' )  OR ( c.relkind = 'p' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' )  OR ( c.relkind = 'v' AND n.nspname <> 'pg_catalog' AND n.nspname <> 'information_schema' )  OR ( c.relkind = 'f' )  OR ( c.relkind = 'm' ) )  ORDER BY TABLE_TYPE,TABLE_SCHEM,TABLE_NAME
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/PgDatabaseMetaData (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/PgDatabaseMetaData.java (tag REL42.5.5)
-- purpose: DatabaseMetaData.getTables(null, null, '%', {TABLE, VIEW, MATERIALIZED VIEW}) (no schema pattern)
SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM, c.relname AS TABLE_NAME,  CASE n.nspname ~ '^pg_' OR n.nspname = 'information_schema'  WHEN true THEN CASE  WHEN n.nspname = 'pg_catalog' OR n.nspname = 'information_schema' THEN CASE c.relkind   WHEN 'r' THEN 'SYSTEM TABLE'   WHEN 'v' THEN 'SYSTEM VIEW'   WHEN 'i' THEN 'SYSTEM INDEX'   ELSE NULL   END  WHEN n.nspname = 'pg_toast' THEN CASE c.relkind   WHEN 'r' THEN 'SYSTEM TOAST TABLE'   WHEN 'i' THEN 'SYSTEM TOAST INDEX'   ELSE NULL   END  ELSE CASE c.relkind   WHEN 'r' THEN 'TEMPORARY TABLE'   WHEN 'p' THEN 'TEMPORARY TABLE'   WHEN 'i' THEN 'TEMPORARY INDEX'   WHEN 'S' THEN 'TEMPORARY SEQUENCE'   WHEN 'v' THEN 'TEMPORARY VIEW'   ELSE NULL   END  END  WHEN false THEN CASE c.relkind  WHEN 'r' THEN 'TABLE'  WHEN 'p' THEN 'PARTITIONED TABLE'  WHEN 'i' THEN 'INDEX'  WHEN 'P' then 'PARTITIONED INDEX'  WHEN 'S' THEN 'SEQUENCE'  WHEN 'v' THEN 'VIEW'  WHEN 'c' THEN 'TYPE'  WHEN 'f' THEN 'FOREIGN TABLE'  WHEN 'm' THEN 'MATERIALIZED VIEW'  ELSE NULL  END  ELSE NULL  END  AS TABLE_TYPE, d.description AS REMARKS,  '' as TYPE_CAT, '' as TYPE_SCHEM, '' as TYPE_NAME, '' AS SELF_REFERENCING_COL_NAME, '' AS REF_GENERATION  FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c  LEFT JOIN pg_catalog.pg_description d ON (c.oid = d.objoid AND d.objsubid = 0  and d.classoid = 'pg_class'::regclass)  WHERE c.relnamespace = n.oid  AND c.relname LIKE '%' AND (false  OR ( c.relkind = 'r' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' )  OR ( c.relkind = 'v' AND n.nspname <> 'pg_catalog' AND n.nspname <> 'information_schema' )  OR ( c.relkind = 'm' ) )  ORDER BY TABLE_TYPE,TABLE_SCHEM,TABLE_NAME
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/PgDatabaseMetaData (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/PgDatabaseMetaData.java (tag REL42.5.5)
-- purpose: DatabaseMetaData.getTables(null, null, null, null) (all relation kinds, no filters)
SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM, c.relname AS TABLE_NAME,  CASE n.nspname ~ '^pg_' OR n.nspname = 'information_schema'  WHEN true THEN CASE  WHEN n.nspname = 'pg_catalog' OR n.nspname = 'information_schema' THEN CASE c.relkind   WHEN 'r' THEN 'SYSTEM TABLE'   WHEN 'v' THEN 'SYSTEM VIEW'   WHEN 'i' THEN 'SYSTEM INDEX'   ELSE NULL   END  WHEN n.nspname = 'pg_toast' THEN CASE c.relkind   WHEN 'r' THEN 'SYSTEM TOAST TABLE'   WHEN 'i' THEN 'SYSTEM TOAST INDEX'   ELSE NULL   END  ELSE CASE c.relkind   WHEN 'r' THEN 'TEMPORARY TABLE'   WHEN 'p' THEN 'TEMPORARY TABLE'   WHEN 'i' THEN 'TEMPORARY INDEX'   WHEN 'S' THEN 'TEMPORARY SEQUENCE'   WHEN 'v' THEN 'TEMPORARY VIEW'   ELSE NULL   END  END  WHEN false THEN CASE c.relkind  WHEN 'r' THEN 'TABLE'  WHEN 'p' THEN 'PARTITIONED TABLE'  WHEN 'i' THEN 'INDEX'  WHEN 'P' then 'PARTITIONED INDEX'  WHEN 'S' THEN 'SEQUENCE'  WHEN 'v' THEN 'VIEW'  WHEN 'c' THEN 'TYPE'  WHEN 'f' THEN 'FOREIGN TABLE'  WHEN 'm' THEN 'MATERIALIZED VIEW'  ELSE NULL  END  ELSE NULL  END  AS TABLE_TYPE, d.description AS REMARKS,  '' as TYPE_CAT, '' as TYPE_SCHEM, '' as TYPE_NAME, '' AS SELF_REFERENCING_COL_NAME, '' AS REF_GENERATION  FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c  LEFT JOIN pg_catalog.pg_description d ON (c.oid = d.objoid AND d.objsubid = 0  and d.classoid = 'pg_class'::regclass)  WHERE c.relnamespace = n.oid  ORDER BY TABLE_TYPE,TABLE_SCHEM,TABLE_NAME
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/PgDatabaseMetaData (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/PgDatabaseMetaData.java (tag REL42.5.5)
-- purpose: DatabaseMetaData.getColumns(null, 'public', 'bids', '%')
SELECT * FROM (SELECT n.nspname,c.relname,a.attname,a.atttypid,a.attnotnull OR (t.typtype = 'd' AND t.typnotnull) AS attnotnull,a.atttypmod,a.attlen,t.typtypmod,row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) AS attnum, nullif(a.attidentity, '') as attidentity,nullif(a.attgenerated, '') as attgenerated,pg_catalog.pg_get_expr(def.adbin, def.adrelid) AS adsrc,dsc.description,t.typbasetype,t.typtype  FROM pg_catalog.pg_namespace n  JOIN pg_catalog.pg_class c ON (c.relnamespace = n.oid)  JOIN pg_catalog.pg_attribute a ON (a.attrelid=c.oid)  JOIN pg_catalog.pg_type t ON (a.atttypid = t.oid)  LEFT JOIN pg_catalog.pg_attrdef def ON (a.attrelid=def.adrelid AND a.attnum = def.adnum)  LEFT JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)  LEFT JOIN pg_catalog.pg_class dc ON (dc.oid=dsc.classoid AND dc.relname='pg_class')  LEFT JOIN pg_catalog.pg_namespace dn ON (dc.relnamespace=dn.oid AND dn.nspname='pg_catalog')  WHERE c.relkind in ('r','p','v','f','m') and a.attnum > 0 AND NOT a.attisdropped  AND n.nspname LIKE 'public' AND c.relname LIKE 'bids') c WHERE true  AND attname LIKE '%' ORDER BY nspname,c.relname,attnum
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/PgDatabaseMetaData (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/PgDatabaseMetaData.java (tag REL42.5.5)
-- purpose: DatabaseMetaData.getColumns(null, 'public', 'bids', null) (Metabase sql-jdbc describe-table passes null column pattern)
SELECT * FROM (SELECT n.nspname,c.relname,a.attname,a.atttypid,a.attnotnull OR (t.typtype = 'd' AND t.typnotnull) AS attnotnull,a.atttypmod,a.attlen,t.typtypmod,row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) AS attnum, nullif(a.attidentity, '') as attidentity,nullif(a.attgenerated, '') as attgenerated,pg_catalog.pg_get_expr(def.adbin, def.adrelid) AS adsrc,dsc.description,t.typbasetype,t.typtype  FROM pg_catalog.pg_namespace n  JOIN pg_catalog.pg_class c ON (c.relnamespace = n.oid)  JOIN pg_catalog.pg_attribute a ON (a.attrelid=c.oid)  JOIN pg_catalog.pg_type t ON (a.atttypid = t.oid)  LEFT JOIN pg_catalog.pg_attrdef def ON (a.attrelid=def.adrelid AND a.attnum = def.adnum)  LEFT JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)  LEFT JOIN pg_catalog.pg_class dc ON (dc.oid=dsc.classoid AND dc.relname='pg_class')  LEFT JOIN pg_catalog.pg_namespace dn ON (dc.relnamespace=dn.oid AND dn.nspname='pg_catalog')  WHERE c.relkind in ('r','p','v','f','m') and a.attnum > 0 AND NOT a.attisdropped  AND n.nspname LIKE 'public' AND c.relname LIKE 'bids') c WHERE true  ORDER BY nspname,c.relname,attnum
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/PgDatabaseMetaData (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/PgDatabaseMetaData.java (tag REL42.5.5)
-- purpose: DatabaseMetaData.getColumns(null, 'public', '%', '%') (all tables of a schema)
SELECT * FROM (SELECT n.nspname,c.relname,a.attname,a.atttypid,a.attnotnull OR (t.typtype = 'd' AND t.typnotnull) AS attnotnull,a.atttypmod,a.attlen,t.typtypmod,row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) AS attnum, nullif(a.attidentity, '') as attidentity,nullif(a.attgenerated, '') as attgenerated,pg_catalog.pg_get_expr(def.adbin, def.adrelid) AS adsrc,dsc.description,t.typbasetype,t.typtype  FROM pg_catalog.pg_namespace n  JOIN pg_catalog.pg_class c ON (c.relnamespace = n.oid)  JOIN pg_catalog.pg_attribute a ON (a.attrelid=c.oid)  JOIN pg_catalog.pg_type t ON (a.atttypid = t.oid)  LEFT JOIN pg_catalog.pg_attrdef def ON (a.attrelid=def.adrelid AND a.attnum = def.adnum)  LEFT JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)  LEFT JOIN pg_catalog.pg_class dc ON (dc.oid=dsc.classoid AND dc.relname='pg_class')  LEFT JOIN pg_catalog.pg_namespace dn ON (dc.relnamespace=dn.oid AND dn.nspname='pg_catalog')  WHERE c.relkind in ('r','p','v','f','m') and a.attnum > 0 AND NOT a.attisdropped  AND n.nspname LIKE 'public' AND c.relname LIKE '%') c WHERE true  AND attname LIKE '%' ORDER BY nspname,c.relname,attnum
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/PgDatabaseMetaData (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/PgDatabaseMetaData.java (tag REL42.5.5)
-- purpose: DatabaseMetaData.getPrimaryKeys(null, 'public', 'bids')
SELECT        result.TABLE_CAT,        result.TABLE_SCHEM,        result.TABLE_NAME,        result.COLUMN_NAME,        result.KEY_SEQ,        result.PK_NAME FROM      (SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM,   ct.relname AS TABLE_NAME, a.attname AS COLUMN_NAME,   (information_schema._pg_expandarray(i.indkey)).n AS KEY_SEQ, ci.relname AS PK_NAME,   information_schema._pg_expandarray(i.indkey) AS KEYS, a.attnum AS A_ATTNUM FROM pg_catalog.pg_class ct   JOIN pg_catalog.pg_attribute a ON (ct.oid = a.attrelid)   JOIN pg_catalog.pg_namespace n ON (ct.relnamespace = n.oid)   JOIN pg_catalog.pg_index i ON ( a.attrelid = i.indrelid)   JOIN pg_catalog.pg_class ci ON (ci.oid = i.indexrelid) WHERE true  AND n.nspname = 'public' AND ct.relname = 'bids' AND i.indisprimary  ) result where  result.A_ATTNUM = (result.KEYS).x  ORDER BY result.table_name, result.pk_name, result.key_seq
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/PgDatabaseMetaData (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/PgDatabaseMetaData.java (tag REL42.5.5)
-- purpose: DatabaseMetaData.getSQLKeywords() (DBeaver calls it while building its SQL dialect on connect)
select string_agg(word, ',') from pg_catalog.pg_get_keywords() where word <> ALL ('{a,abs,absolute,action,ada,add,admin,after,all,allocate,alter,always,and,any,are,array,as,asc,asensitive,assertion,assignment,asymmetric,at,atomic,attribute,attributes,authorization,avg,before,begin,bernoulli,between,bigint,binary,blob,boolean,both,breadth,by,c,call,called,cardinality,cascade,cascaded,case,cast,catalog,catalog_name,ceil,ceiling,chain,char,char_length,character,character_length,character_set_catalog,character_set_name,character_set_schema,characteristics,characters,check,checked,class_origin,clob,close,coalesce,cobol,code_units,collate,collation,collation_catalog,collation_name,collation_schema,collect,column,column_name,command_function,command_function_code,commit,committed,condition,condition_number,connect,connection_name,constraint,constraint_catalog,constraint_name,constraint_schema,constraints,constructors,contains,continue,convert,corr,corresponding,count,covar_pop,covar_samp,create,cross,cube,cume_dist,current,current_collation,current_date,current_default_transform_group,current_path,current_role,current_time,current_timestamp,current_transform_group_for_type,current_user,cursor,cursor_name,cycle,data,date,datetime_interval_code,datetime_interval_precision,day,deallocate,dec,decimal,declare,default,defaults,deferrable,deferred,defined,definer,degree,delete,dense_rank,depth,deref,derived,desc,describe,descriptor,deterministic,diagnostics,disconnect,dispatch,distinct,domain,double,drop,dynamic,dynamic_function,dynamic_function_code,each,element,else,end,end-exec,equals,escape,every,except,exception,exclude,excluding,exec,execute,exists,exp,external,extract,false,fetch,filter,final,first,float,floor,following,for,foreign,fortran,found,free,from,full,function,fusion,g,general,get,global,go,goto,grant,granted,group,grouping,having,hierarchy,hold,hour,identity,immediate,implementation,in,including,increment,indicator,initially,inner,inout,input,insensitive,insert,instance,instantiable,int,integer,intersect,intersection,interval,into,invoker,is,isolation,join,k,key,key_member,key_type,language,large,last,lateral,leading,left,length,level,like,ln,local,localtime,localtimestamp,locator,lower,m,map,match,matched,max,maxvalue,member,merge,message_length,message_octet_length,message_text,method,min,minute,minvalue,mod,modifies,module,month,more,multiset,mumps,name,names,national,natural,nchar,nclob,nesting,new,next,no,none,normalize,normalized,not,"null",nullable,nullif,nulls,number,numeric,object,octet_length,octets,of,old,on,only,open,option,options,or,order,ordering,ordinality,others,out,outer,output,over,overlaps,overlay,overriding,pad,parameter,parameter_mode,parameter_name,parameter_ordinal_position,parameter_specific_catalog,parameter_specific_name,parameter_specific_schema,partial,partition,pascal,path,percent_rank,percentile_cont,percentile_disc,placing,pli,position,power,preceding,precision,prepare,preserve,primary,prior,privileges,procedure,public,range,rank,read,reads,real,recursive,ref,references,referencing,regr_avgx,regr_avgy,regr_count,regr_intercept,regr_r2,regr_slope,regr_sxx,regr_sxy,regr_syy,relative,release,repeatable,restart,result,return,returned_cardinality,returned_length,returned_octet_length,returned_sqlstate,returns,revoke,right,role,rollback,rollup,routine,routine_catalog,routine_name,routine_schema,row,row_count,row_number,rows,savepoint,scale,schema,schema_name,scope_catalog,scope_name,scope_schema,scroll,search,second,section,security,select,self,sensitive,sequence,serializable,server_name,session,session_user,set,sets,similar,simple,size,smallint,some,source,space,specific,specific_name,specifictype,sql,sqlexception,sqlstate,sqlwarning,sqrt,start,state,statement,static,stddev_pop,stddev_samp,structure,style,subclass_origin,submultiset,substring,sum,symmetric,system,system_user,table,table_name,tablesample,temporary,then,ties,time,timestamp,timezone_hour,timezone_minute,to,top_level_count,trailing,transaction,transaction_active,transactions_committed,transactions_rolled_back,transform,transforms,translate,translation,treat,trigger,trigger_catalog,trigger_name,trigger_schema,trim,true,type,uescape,unbounded,uncommitted,under,union,unique,unknown,unnamed,unnest,update,upper,usage,user,user_defined_type_catalog,user_defined_type_code,user_defined_type_name,user_defined_type_schema,using,value,values,var_pop,var_samp,varchar,varying,view,when,whenever,where,width_bucket,window,with,within,without,work,write,year,zone}'::text[])
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/PgDatabaseMetaData (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/PgDatabaseMetaData.java (tag REL42.5.5)
-- purpose: DatabaseMetaData.getMaxIndexKeys() (used by getImportedKeys/getExportedKeys/getIndexInfo)
SELECT setting FROM pg_catalog.pg_settings WHERE name='max_index_keys'
;

-- ==================== TypeInfoCache (driver-internal, triggered by result-set types it has not cached) ====================

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/TypeInfoCache (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/TypeInfoCache.java (tag REL42.5.5)
-- purpose: getSQLType(oid) for an unknown type oid; oid bound as an int parameter — 1034 (aclitem[], from DBeaver's pg_namespace.nspacl) used here
-- note: pgjdbc sends this with a trailing ';' inside the string; it is shown here as-is minus that final ';'
SELECT typinput='pg_catalog.array_in'::regproc as is_array, typtype, typname, pg_type.oid   FROM pg_catalog.pg_type   LEFT JOIN (select ns.oid as nspoid, ns.nspname, r.r           from pg_namespace as ns           join ( select s.r, (current_schemas(false))[s.r] as nspname                    from generate_series(1, array_upper(current_schemas(false), 1)) as s(r) ) as r          using ( nspname )        ) as sp     ON sp.nspoid = typnamespace  WHERE pg_type.oid = 1034  ORDER BY sp.r, pg_type.oid DESC
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/TypeInfoCache (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/TypeInfoCache.java (tag REL42.5.5)
-- purpose: getPGType(oid) → name/schema of a type (1034 bound)
SELECT n.nspname = ANY(current_schemas(true)), n.nspname, t.typname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON t.typnamespace = n.oid WHERE t.oid = 1034
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/TypeInfoCache (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/TypeInfoCache.java (tag REL42.5.5)
-- purpose: getArrayDelimiter(oid) (1034 bound)
SELECT e.typdelim FROM pg_catalog.pg_type t, pg_catalog.pg_type e WHERE t.oid = 1034 and t.typelem = e.oid
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/TypeInfoCache (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/TypeInfoCache.java (tag REL42.5.5)
-- purpose: getPGArrayElement(oid) (1034 bound)
SELECT e.oid, n.nspname = ANY(current_schemas(true)), n.nspname, e.typname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_type e ON t.typelem = e.oid JOIN pg_catalog.pg_namespace n ON t.typnamespace = n.oid WHERE t.oid = 1034
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/TypeInfoCache (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/TypeInfoCache.java (tag REL42.5.5)
-- purpose: getPGType(name) for a simple type name (e.g. setObject with a type name); name bound — 'int4' used
-- note: pgjdbc sends this with a trailing ';' inside the string
SELECT pg_type.oid, typname   FROM pg_catalog.pg_type   LEFT   JOIN (select ns.oid as nspoid, ns.nspname, r.r           from pg_namespace as ns           join ( select s.r, (current_schemas(false))[s.r] as nspname                    from generate_series(1, array_upper(current_schemas(false), 1)) as s(r) ) as r          using ( nspname )        ) as sp     ON sp.nspoid = typnamespace  WHERE typname = 'int4'  ORDER BY sp.r, pg_type.oid DESC LIMIT 1
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/TypeInfoCache (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/TypeInfoCache.java (tag REL42.5.5)
-- purpose: getPGType(name) for a schema-qualified non-array type; binds typname, nspname, isSearchPath — 'bids_status','public',false used
SELECT t.oid, t.typname   FROM pg_catalog.pg_type t  JOIN pg_catalog.pg_namespace n ON t.typnamespace = n.oid WHERE t.typname = 'bids_status' AND (n.nspname = 'public' OR false AND n.nspname = ANY (current_schemas(true))) ORDER BY t.oid DESC LIMIT 1
;

-- source: pgjdbc 42.5.5 = Debian 12 libpostgresql-jdbc-java 42.5.5-0+deb12u1, /usr/share/java/postgresql-42.5.5.jar, class org/postgresql/jdbc/PgResultSetMetaData (string constants read from the compiled class); source file pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/PgResultSetMetaData.java (tag REL42.5.5)
-- purpose: ResultSetMetaData.isNullable/isAutoIncrement/getBaseColumnName… → fetchFieldMetaData(); table oid and column numbers come from the RowDescription and are concatenated into the text (not bound): table oid 16384 (written as 16384 per convention), columns 1..3
SELECT c.oid, a.attnum, a.attname, c.relname, n.nspname, a.attnotnull OR (t.typtype = 'd' AND t.typnotnull), a.attidentity != '' OR pg_catalog.pg_get_expr(d.adbin, d.adrelid) LIKE '%nextval(%' FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON (c.relnamespace = n.oid) JOIN pg_catalog.pg_attribute a ON (c.oid = a.attrelid) JOIN pg_catalog.pg_type t ON (a.atttypid = t.oid) LEFT JOIN pg_catalog.pg_attrdef d ON (d.adrelid = a.attrelid AND d.adnum = a.attnum) JOIN (SELECT 16384 AS oid , 1 AS attnum UNION ALL SELECT 16384, 2 UNION ALL SELECT 16384, 3) vals ON (c.oid = vals.oid AND a.attnum = vals.attnum)
;
