-- SQLAlchemy 2.0.58 PostgreSQL dialect (lib/sqlalchemy/dialects/postgresql/base.py) — what create_engine().connect()
-- and sqlalchemy.inspect() send. Part 1 is the exact text psycopg2 puts on the wire: SQLAlchemy 2.0.58 was run
-- (pip) against a recording fake DB-API connection; SQLAlchemy compiled each statement for the psycopg2 dialect
-- and the parameters were interpolated with psycopg2.extensions.adapt() — which is what psycopg2's client-side
-- parameter interpolation sends (psycopg2 never uses $n). Schema 'public', table 'bids', view 'bids_mv'.
-- psycopg2 runs with autocommit off: libpq sends 'BEGIN' before the first statement of every transaction and
-- SQLAlchemy ends it with 'ROLLBACK' when the connection is returned to the pool.
-- Part 2: the psycopg (v3) dialect renders the same queries with server-side $n parameters AND explicit bind
-- casts ($1::VARCHAR, $n::INTEGER, ...). A few are shown with the bound values written as literals next to the casts.

-- ==================== Part 1: psycopg2 (default driver of Superset) ====================

-- source: psycopg2 (libpq) implicit transaction start, autocommit off
-- purpose: every new transaction (first statement after connect/commit/rollback)
BEGIN
;

-- source: psycopg2 2.9.13 lib/extras.py HstoreAdapter.get_oids() — called by SQLAlchemy psycopg2 dialect on_connect because use_native_hstore=True by default; typarray branch for server >= 8.3
-- purpose: on every new DB-API connection: look up the hstore type oid
-- note: psycopg2 follows it with ROLLBACK (get_oids restores the idle state)
SELECT t.oid, typarray
FROM pg_type t JOIN pg_namespace ns
    ON typnamespace = ns.oid
WHERE typname = 'hstore'
;

-- source: psycopg2 HstoreAdapter.get_oids() (conn.rollback())
-- purpose: end of the hstore probe transaction
ROLLBACK
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py (rendered by SQLAlchemy 2.0.58, psycopg2 dialect)
-- purpose: first connect: DefaultDialect.initialize → server version (PGDialect._get_server_version_info regexes 'PostgreSQL 16.6')
select pg_catalog.version()
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py (rendered by SQLAlchemy 2.0.58, psycopg2 dialect)
-- purpose: first connect: default schema name (_get_default_schema_name)
select current_schema()
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py (rendered by SQLAlchemy 2.0.58, psycopg2 dialect)
-- purpose: first connect: default isolation level (PGDialect.get_isolation_level via raw cursor)
show transaction isolation level
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py (rendered by SQLAlchemy 2.0.58, psycopg2 dialect)
-- purpose: first connect: PGDialect._set_backslash_escapes
show standard_conforming_strings
;

-- source: SQLAlchemy pool reset-on-return (psycopg2 conn.rollback())
-- purpose: end of the initialize transaction / connection returned to pool
ROLLBACK
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py (rendered by SQLAlchemy 2.0.58, psycopg2 dialect) — get_schema_names()
-- purpose: Inspector.get_schema_names() — schema dropdown (Superset: schemas list)
SELECT pg_catalog.pg_namespace.nspname 
FROM pg_catalog.pg_namespace 
WHERE (pg_catalog.pg_namespace.nspname NOT LIKE 'pg/_' || '%' ESCAPE '/') ORDER BY pg_catalog.pg_namespace.nspname
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py (rendered by SQLAlchemy 2.0.58, psycopg2 dialect) — get_table_names(schema='public')
-- purpose: Inspector.get_table_names('public') — relkind r,p; non-temporary
SELECT pg_catalog.pg_class.relname 
FROM pg_catalog.pg_class JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace 
WHERE pg_catalog.pg_class.relkind = ANY (ARRAY['r', 'p']) AND pg_catalog.pg_class.relpersistence != 't' AND pg_catalog.pg_namespace.nspname = 'public'
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py (rendered by SQLAlchemy 2.0.58, psycopg2 dialect) — get_table_names(schema=None)
-- purpose: Inspector.get_table_names() — default schema: pg_table_is_visible()
SELECT pg_catalog.pg_class.relname 
FROM pg_catalog.pg_class JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace 
WHERE pg_catalog.pg_class.relkind = ANY (ARRAY['r', 'p']) AND pg_catalog.pg_class.relpersistence != 't' AND pg_catalog.pg_table_is_visible(pg_catalog.pg_class.oid) AND pg_catalog.pg_namespace.nspname != 'pg_catalog'
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py (rendered by SQLAlchemy 2.0.58, psycopg2 dialect) — get_view_names(schema='public')
-- purpose: Inspector.get_view_names('public')
SELECT pg_catalog.pg_class.relname 
FROM pg_catalog.pg_class JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace 
WHERE pg_catalog.pg_class.relkind = ANY (ARRAY['v']) AND pg_catalog.pg_class.relpersistence != 't' AND pg_catalog.pg_namespace.nspname = 'public'
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py (rendered by SQLAlchemy 2.0.58, psycopg2 dialect) — get_materialized_view_names(schema='public')
-- purpose: Inspector.get_materialized_view_names('public') (PGInspector)
SELECT pg_catalog.pg_class.relname 
FROM pg_catalog.pg_class JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace 
WHERE pg_catalog.pg_class.relkind = ANY (ARRAY['m']) AND pg_catalog.pg_class.relpersistence != 't' AND pg_catalog.pg_namespace.nspname = 'public'
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py (rendered by SQLAlchemy 2.0.58, psycopg2 dialect) — get_foreign_table_names(schema='public')
-- purpose: PGInspector.get_foreign_table_names('public') (Superset PostgresEngineSpec.get_table_names adds these)
SELECT pg_catalog.pg_class.relname 
FROM pg_catalog.pg_class JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace 
WHERE pg_catalog.pg_class.relkind = ANY (ARRAY['f']) AND pg_catalog.pg_namespace.nspname = 'public'
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py (rendered by SQLAlchemy 2.0.58, psycopg2 dialect) — has_schema('public')
-- purpose: Inspector.has_schema('public')
SELECT pg_catalog.pg_namespace.nspname 
FROM pg_catalog.pg_namespace 
WHERE pg_catalog.pg_namespace.nspname = 'public'
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py (rendered by SQLAlchemy 2.0.58, psycopg2 dialect) — has_table('bids', schema='public')
-- purpose: Inspector.has_table('bids', schema='public')
SELECT pg_catalog.pg_class.relname 
FROM pg_catalog.pg_class JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace 
WHERE pg_catalog.pg_class.relname = 'bids' AND pg_catalog.pg_class.relkind = ANY (ARRAY['r', 'p', 'f', 'v', 'm']) AND pg_catalog.pg_namespace.nspname = 'public'
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py (rendered by SQLAlchemy 2.0.58, psycopg2 dialect) — get_columns('bids', schema='public')
-- purpose: Inspector.get_columns('bids', schema='public') — columns query, then domains and enums [statement 1 of 3]
SELECT pg_catalog.pg_attribute.attname AS name, pg_catalog.format_type(pg_catalog.pg_attribute.atttypid, pg_catalog.pg_attribute.atttypmod) AS format_type, (SELECT pg_catalog.pg_get_expr(pg_catalog.pg_attrdef.adbin, pg_catalog.pg_attrdef.adrelid) AS pg_get_expr_1 
FROM pg_catalog.pg_attrdef 
WHERE pg_catalog.pg_attrdef.adrelid = pg_catalog.pg_attribute.attrelid AND pg_catalog.pg_attrdef.adnum = pg_catalog.pg_attribute.attnum AND pg_catalog.pg_attribute.atthasdef) AS "default", pg_catalog.pg_attribute.attnotnull AS not_null, pg_catalog.pg_class.relname AS table_name, pg_catalog.pg_description.description AS comment, pg_catalog.pg_attribute.attgenerated AS generated, (SELECT json_build_object('always', pg_catalog.pg_attribute.attidentity = 'a', 'start', pg_catalog.pg_sequence.seqstart, 'increment', pg_catalog.pg_sequence.seqincrement, 'minvalue', pg_catalog.pg_sequence.seqmin, 'maxvalue', pg_catalog.pg_sequence.seqmax, 'cache', pg_catalog.pg_sequence.seqcache, 'cycle', pg_catalog.pg_sequence.seqcycle) AS json_build_object_1 
FROM pg_catalog.pg_sequence 
WHERE pg_catalog.pg_attribute.attidentity != '' AND pg_catalog.pg_sequence.seqrelid = CAST(CAST(pg_catalog.pg_get_serial_sequence(CAST(CAST(pg_catalog.pg_attribute.attrelid AS REGCLASS) AS TEXT), pg_catalog.pg_attribute.attname) AS REGCLASS) AS OID)) AS identity_options, CASE WHEN (pg_catalog.pg_attribute.attcollation != 0 AND (SELECT pg_catalog.pg_type.typcollation 
FROM pg_catalog.pg_type 
WHERE pg_catalog.pg_type.oid = pg_catalog.pg_attribute.atttypid) != pg_catalog.pg_attribute.attcollation) THEN (SELECT pg_catalog.pg_collation.collname 
FROM pg_catalog.pg_collation 
WHERE pg_catalog.pg_collation.oid = pg_catalog.pg_attribute.attcollation) ELSE NULL END AS collation 
FROM pg_catalog.pg_class LEFT OUTER JOIN pg_catalog.pg_attribute ON pg_catalog.pg_class.oid = pg_catalog.pg_attribute.attrelid AND pg_catalog.pg_attribute.attnum > 0 AND NOT pg_catalog.pg_attribute.attisdropped LEFT OUTER JOIN pg_catalog.pg_description ON pg_catalog.pg_description.objoid = pg_catalog.pg_attribute.attrelid AND pg_catalog.pg_description.objsubid = pg_catalog.pg_attribute.attnum JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace 
WHERE pg_catalog.pg_class.relkind = ANY (ARRAY['r', 'p', 'f', 'v', 'm']) AND pg_catalog.pg_namespace.nspname = 'public' AND pg_catalog.pg_class.relname IN ('bids') ORDER BY pg_catalog.pg_class.relname, pg_catalog.pg_attribute.attnum
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py (rendered by SQLAlchemy 2.0.58, psycopg2 dialect) — get_columns('bids', schema='public')
-- purpose: Inspector.get_columns('bids', schema='public') — columns query, then domains and enums [statement 2 of 3]
SELECT pg_catalog.pg_type.typname AS name, pg_catalog.format_type(pg_catalog.pg_type.typbasetype, pg_catalog.pg_type.typtypmod) AS attype, NOT pg_catalog.pg_type.typnotnull AS nullable, pg_catalog.pg_type.typdefault AS "default", pg_catalog.pg_type_is_visible(pg_catalog.pg_type.oid) AS visible, pg_catalog.pg_namespace.nspname AS schema, domain_constraints.condefs, domain_constraints.connames, pg_catalog.pg_collation.collname 
FROM pg_catalog.pg_type JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_type.typnamespace LEFT OUTER JOIN pg_catalog.pg_collation ON pg_catalog.pg_type.typcollation = pg_catalog.pg_collation.oid LEFT OUTER JOIN (SELECT pg_catalog.pg_constraint.contypid AS contypid, array_agg(pg_catalog.pg_get_constraintdef(pg_catalog.pg_constraint.oid, true)) AS condefs, array_agg(CAST(pg_catalog.pg_constraint.conname AS TEXT)) AS connames 
FROM pg_catalog.pg_constraint 
WHERE pg_catalog.pg_constraint.contypid != 0 GROUP BY pg_catalog.pg_constraint.contypid) AS domain_constraints ON pg_catalog.pg_type.oid = domain_constraints.contypid 
WHERE pg_catalog.pg_type.typtype = 'd' ORDER BY pg_catalog.pg_namespace.nspname, pg_catalog.pg_type.typname
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py (rendered by SQLAlchemy 2.0.58, psycopg2 dialect) — get_columns('bids', schema='public')
-- purpose: Inspector.get_columns('bids', schema='public') — columns query, then domains and enums [statement 3 of 3]
SELECT pg_catalog.pg_type.typname AS name, pg_catalog.pg_type_is_visible(pg_catalog.pg_type.oid) AS visible, pg_catalog.pg_namespace.nspname AS schema, lbl_agg.labels AS labels 
FROM pg_catalog.pg_type JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_type.typnamespace LEFT OUTER JOIN (SELECT pg_catalog.pg_enum.enumtypid AS enumtypid, array_agg(CAST(pg_catalog.pg_enum.enumlabel AS TEXT) ORDER BY pg_catalog.pg_enum.enumsortorder) AS labels 
FROM pg_catalog.pg_enum GROUP BY pg_catalog.pg_enum.enumtypid) AS lbl_agg ON pg_catalog.pg_type.oid = lbl_agg.enumtypid 
WHERE pg_catalog.pg_type.typtype = 'e' ORDER BY pg_catalog.pg_namespace.nspname, pg_catalog.pg_type.typname
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py (rendered by SQLAlchemy 2.0.58, psycopg2 dialect) — get_pk_constraint('bids', schema='public')
-- purpose: Inspector.get_pk_constraint — table oid lookup, then constraint query; oid 16384 is the value returned by the first query and bound into the second [statement 1 of 2]
SELECT pg_catalog.pg_class.oid, pg_catalog.pg_class.relname 
FROM pg_catalog.pg_class JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace 
WHERE pg_catalog.pg_class.relkind = ANY (ARRAY['r', 'p', 'f', 'v', 'm']) AND pg_catalog.pg_namespace.nspname = 'public' AND pg_catalog.pg_class.relname IN ('bids')
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py (rendered by SQLAlchemy 2.0.58, psycopg2 dialect) — get_pk_constraint('bids', schema='public')
-- purpose: Inspector.get_pk_constraint — table oid lookup, then constraint query; oid 16384 is the value returned by the first query and bound into the second [statement 2 of 2]
SELECT attr.conrelid, array_agg(CAST(attr.attname AS TEXT) ORDER BY attr.ord) AS cols, attr.conname, min(attr.description) AS description, min(attr.indnkeyatts) AS indnkeyatts, bool_and(attr.indnullsnotdistinct) AS indnullsnotdistinct 
FROM (SELECT con.conrelid AS conrelid, con.conname AS conname, con.description AS description, con.ord AS ord, con.indnkeyatts AS indnkeyatts, con.indnullsnotdistinct AS indnullsnotdistinct, pg_catalog.pg_attribute.attname AS attname 
FROM pg_catalog.pg_attribute JOIN (SELECT pg_catalog.pg_constraint.conrelid AS conrelid, pg_catalog.pg_constraint.conname AS conname, unnest(pg_catalog.pg_index.indkey) AS attnum, generate_subscripts(pg_catalog.pg_index.indkey, 1) AS ord, pg_catalog.pg_index.indnkeyatts AS indnkeyatts, pg_catalog.pg_index.indnullsnotdistinct AS indnullsnotdistinct, pg_catalog.pg_description.description AS description 
FROM pg_catalog.pg_constraint JOIN pg_catalog.pg_index ON pg_catalog.pg_constraint.conindid = pg_catalog.pg_index.indexrelid LEFT OUTER JOIN pg_catalog.pg_description ON pg_catalog.pg_description.objoid = pg_catalog.pg_constraint.oid AND pg_catalog.pg_description.classoid = CAST('pg_catalog.pg_constraint' AS REGCLASS) 
WHERE pg_catalog.pg_constraint.contype = 'p' AND pg_catalog.pg_constraint.conrelid IN (16384)) AS con ON pg_catalog.pg_attribute.attnum = con.attnum AND pg_catalog.pg_attribute.attrelid = con.conrelid 
WHERE con.conrelid IN (16384)) AS attr GROUP BY attr.conrelid, attr.conname ORDER BY attr.conrelid, attr.conname
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py (rendered by SQLAlchemy 2.0.58, psycopg2 dialect) — get_foreign_keys('bids', schema='public')
-- purpose: Inspector.get_foreign_keys
SELECT pg_catalog.pg_class.relname, pg_catalog.pg_constraint.conname, CASE WHEN (pg_catalog.pg_constraint.oid IS NOT NULL) THEN pg_catalog.pg_get_constraintdef(pg_catalog.pg_constraint.oid, true) END AS anon_1, nsp_ref.nspname, pg_catalog.pg_description.description 
FROM pg_catalog.pg_class LEFT OUTER JOIN pg_catalog.pg_constraint ON pg_catalog.pg_class.oid = pg_catalog.pg_constraint.conrelid AND pg_catalog.pg_constraint.contype = 'f' LEFT OUTER JOIN pg_catalog.pg_class AS cls_ref ON cls_ref.oid = pg_catalog.pg_constraint.confrelid LEFT OUTER JOIN pg_catalog.pg_namespace AS nsp_ref ON cls_ref.relnamespace = nsp_ref.oid LEFT OUTER JOIN pg_catalog.pg_description ON pg_catalog.pg_description.objoid = pg_catalog.pg_constraint.oid AND pg_catalog.pg_description.classoid = CAST('pg_catalog.pg_constraint' AS REGCLASS) JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace 
WHERE pg_catalog.pg_class.relkind = ANY (ARRAY['r', 'p', 'f', 'v', 'm']) AND pg_catalog.pg_namespace.nspname = 'public' AND pg_catalog.pg_class.relname IN ('bids') ORDER BY pg_catalog.pg_class.relname, pg_catalog.pg_constraint.conname
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py (rendered by SQLAlchemy 2.0.58, psycopg2 dialect) — get_indexes('bids', schema='public')
-- purpose: Inspector.get_indexes (table oid 16384 bound)
SELECT pg_catalog.pg_index.indrelid, pg_catalog.pg_class.relname, pg_catalog.pg_index.indisunique, pg_catalog.pg_constraint.conrelid IS NOT NULL AS has_constraint, pg_catalog.pg_index.indoption, pg_catalog.pg_class.reloptions, pg_catalog.pg_am.amname, CASE WHEN (pg_catalog.pg_index.indpred IS NOT NULL) THEN pg_catalog.pg_get_expr(pg_catalog.pg_index.indpred, pg_catalog.pg_index.indrelid) END AS filter_definition, pg_catalog.pg_index.indnkeyatts, pg_catalog.pg_index.indnullsnotdistinct, idx_cols.elements, idx_cols.elements_is_expr, idx_cols.elements_opclass, idx_cols.elements_opdefault 
FROM pg_catalog.pg_index JOIN pg_catalog.pg_class ON pg_catalog.pg_index.indexrelid = pg_catalog.pg_class.oid JOIN pg_catalog.pg_am ON pg_catalog.pg_class.relam = pg_catalog.pg_am.oid LEFT OUTER JOIN (SELECT idx_attr.indexrelid AS indexrelid, min(idx_attr.indrelid) AS min_1, array_agg(idx_attr.element ORDER BY idx_attr.ord) AS elements, array_agg(idx_attr.is_expr ORDER BY idx_attr.ord) AS elements_is_expr, array_agg(idx_attr.opcname ORDER BY idx_attr.ord) AS elements_opclass, array_agg(idx_attr.opcdefault ORDER BY idx_attr.ord) AS elements_opdefault 
FROM (SELECT idx.indexrelid AS indexrelid, idx.indrelid AS indrelid, idx.ord AS ord, CASE WHEN (idx.attnum = 0) THEN pg_catalog.pg_get_indexdef(idx.indexrelid, idx.ord + 1, true) ELSE CAST(pg_catalog.pg_attribute.attname AS TEXT) END AS element, idx.attnum = 0 AS is_expr, pg_catalog.pg_opclass.opcname AS opcname, pg_catalog.pg_opclass.opcdefault AS opcdefault 
FROM (SELECT pg_catalog.pg_index.indexrelid AS indexrelid, pg_catalog.pg_index.indrelid AS indrelid, unnest(pg_catalog.pg_index.indkey) AS attnum, unnest(pg_catalog.pg_index.indclass) AS att_opclass, generate_subscripts(pg_catalog.pg_index.indkey, 1) AS ord 
FROM pg_catalog.pg_index 
WHERE NOT pg_catalog.pg_index.indisprimary AND pg_catalog.pg_index.indrelid IN (16384)) AS idx LEFT OUTER JOIN pg_catalog.pg_attribute ON pg_catalog.pg_attribute.attnum = idx.attnum AND pg_catalog.pg_attribute.attrelid = idx.indrelid LEFT OUTER JOIN pg_catalog.pg_opclass ON pg_catalog.pg_opclass.oid = idx.att_opclass 
WHERE idx.indrelid IN (16384)) AS idx_attr GROUP BY idx_attr.indexrelid) AS idx_cols ON pg_catalog.pg_index.indexrelid = idx_cols.indexrelid LEFT OUTER JOIN pg_catalog.pg_constraint ON pg_catalog.pg_index.indrelid = pg_catalog.pg_constraint.conrelid AND pg_catalog.pg_index.indexrelid = pg_catalog.pg_constraint.conindid AND pg_catalog.pg_constraint.contype = ANY (ARRAY['p', 'u', 'x']) 
WHERE pg_catalog.pg_index.indrelid IN (16384) AND NOT pg_catalog.pg_index.indisprimary ORDER BY pg_catalog.pg_index.indrelid, pg_catalog.pg_class.relname
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py (rendered by SQLAlchemy 2.0.58, psycopg2 dialect) — get_unique_constraints('bids', schema='public')
-- purpose: Inspector.get_unique_constraints (table oid 16384 bound)
SELECT attr.conrelid, array_agg(CAST(attr.attname AS TEXT) ORDER BY attr.ord) AS cols, attr.conname, min(attr.description) AS description, min(attr.indnkeyatts) AS indnkeyatts, bool_and(attr.indnullsnotdistinct) AS indnullsnotdistinct 
FROM (SELECT con.conrelid AS conrelid, con.conname AS conname, con.description AS description, con.ord AS ord, con.indnkeyatts AS indnkeyatts, con.indnullsnotdistinct AS indnullsnotdistinct, pg_catalog.pg_attribute.attname AS attname 
FROM pg_catalog.pg_attribute JOIN (SELECT pg_catalog.pg_constraint.conrelid AS conrelid, pg_catalog.pg_constraint.conname AS conname, unnest(pg_catalog.pg_index.indkey) AS attnum, generate_subscripts(pg_catalog.pg_index.indkey, 1) AS ord, pg_catalog.pg_index.indnkeyatts AS indnkeyatts, pg_catalog.pg_index.indnullsnotdistinct AS indnullsnotdistinct, pg_catalog.pg_description.description AS description 
FROM pg_catalog.pg_constraint JOIN pg_catalog.pg_index ON pg_catalog.pg_constraint.conindid = pg_catalog.pg_index.indexrelid LEFT OUTER JOIN pg_catalog.pg_description ON pg_catalog.pg_description.objoid = pg_catalog.pg_constraint.oid AND pg_catalog.pg_description.classoid = CAST('pg_catalog.pg_constraint' AS REGCLASS) 
WHERE pg_catalog.pg_constraint.contype = 'u' AND pg_catalog.pg_constraint.conrelid IN (16384)) AS con ON pg_catalog.pg_attribute.attnum = con.attnum AND pg_catalog.pg_attribute.attrelid = con.conrelid 
WHERE con.conrelid IN (16384)) AS attr GROUP BY attr.conrelid, attr.conname ORDER BY attr.conrelid, attr.conname
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py (rendered by SQLAlchemy 2.0.58, psycopg2 dialect) — get_check_constraints('bids', schema='public')
-- purpose: Inspector.get_check_constraints
SELECT pg_catalog.pg_class.relname, pg_catalog.pg_constraint.conname, CASE WHEN (pg_catalog.pg_constraint.oid IS NOT NULL) THEN pg_catalog.pg_get_constraintdef(pg_catalog.pg_constraint.oid, true) END AS anon_1, pg_catalog.pg_description.description 
FROM pg_catalog.pg_class LEFT OUTER JOIN pg_catalog.pg_constraint ON pg_catalog.pg_class.oid = pg_catalog.pg_constraint.conrelid AND pg_catalog.pg_constraint.contype = 'c' LEFT OUTER JOIN pg_catalog.pg_description ON pg_catalog.pg_description.objoid = pg_catalog.pg_constraint.oid AND pg_catalog.pg_description.classoid = CAST('pg_catalog.pg_constraint' AS REGCLASS) JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace 
WHERE pg_catalog.pg_class.relkind = ANY (ARRAY['r', 'p', 'f', 'v', 'm']) AND pg_catalog.pg_namespace.nspname = 'public' AND pg_catalog.pg_class.relname IN ('bids') ORDER BY pg_catalog.pg_class.relname, pg_catalog.pg_constraint.conname
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py (rendered by SQLAlchemy 2.0.58, psycopg2 dialect) — get_table_comment('bids', schema='public')
-- purpose: Inspector.get_table_comment (Superset table metadata)
SELECT pg_catalog.pg_class.relname, pg_catalog.pg_description.description 
FROM pg_catalog.pg_class LEFT OUTER JOIN pg_catalog.pg_description ON pg_catalog.pg_class.oid = pg_catalog.pg_description.objoid AND pg_catalog.pg_description.objsubid = 0 AND pg_catalog.pg_description.classoid = CAST('pg_catalog.pg_class' AS REGCLASS) JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace 
WHERE pg_catalog.pg_class.relkind = ANY (ARRAY['r', 'p', 'f', 'v', 'm']) AND pg_catalog.pg_namespace.nspname = 'public' AND pg_catalog.pg_class.relname IN ('bids')
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py (rendered by SQLAlchemy 2.0.58, psycopg2 dialect) — get_view_definition('bids_mv', schema='public')
-- purpose: Inspector.get_view_definition('bids_mv') — views and materialized views
SELECT pg_catalog.pg_get_viewdef(pg_catalog.pg_class.oid) AS pg_get_viewdef_1 
FROM pg_catalog.pg_class JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace 
WHERE pg_catalog.pg_class.relname = 'bids_mv' AND pg_catalog.pg_class.relkind = ANY (ARRAY['v', 'm']) AND pg_catalog.pg_namespace.nspname = 'public'
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/engine/default.py DefaultDialect.do_ping → _dialect_specific_select_one (SQLAlchemy 2.0.58, psycopg2)
-- purpose: pool_pre_ping / Superset 'Test connection' (superset/commands/database/test_connection.py: engine.dialect.do_ping(conn))
SELECT 1
;

-- ==================== Part 2: psycopg (v3) dialect differences ====================

-- psycopg 3 (postgresql+psycopg://) — SQLAlchemy _psycopg_common.do_ping / PGDialect_psycopg._dialect_specific_select_one:
-- RAW ping text is ";" (an empty query — server must answer EmptyQueryResponse), sent in autocommit mode.

-- source: psycopg 3.3.9 psycopg/_typeinfo.py TypeInfo._get_info_query (to_regtype branch for server >= 9.4), called from SQLAlchemy psycopg dialect initialize() (use_native_hstore=True default); psycopg3 wraps it in conn.transaction() → inside SQLAlchemy's open transaction that becomes SAVEPOINT "_pg3_1" … RELEASE "_pg3_1"; $1 = 'hstore' (inlined)
-- purpose: first connect: hstore TypeInfo lookup
SELECT
    typname AS name, oid, typarray AS array_oid,
    oid::regtype::text AS regtype, typdelim AS delimiter
FROM pg_type t
WHERE t.oid = to_regtype('hstore')
ORDER BY t.oid
;

-- source: psycopg 3 transaction.py (Transaction savepoint naming _pg3_{n})
-- purpose: nested transaction around the hstore lookup
SAVEPOINT "_pg3_1"
;

-- source: psycopg 3 transaction.py
-- purpose: end of nested transaction
RELEASE "_pg3_1"
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py — get_schema_names, compiled by SQLAlchemy 2.0.58 for the psycopg (v3) dialect (render_bind_cast=True, render_postcompile for the IN list)
-- purpose: get_schema_names as sent by psycopg 3; bound values written in place of ${n}: $1='pg/_'
SELECT pg_catalog.pg_namespace.nspname 
FROM pg_catalog.pg_namespace 
WHERE (pg_catalog.pg_namespace.nspname NOT LIKE 'pg/_'::VARCHAR || '%' ESCAPE '/') ORDER BY pg_catalog.pg_namespace.nspname
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py — get_table_names(schema='public'), compiled by SQLAlchemy 2.0.58 for the psycopg (v3) dialect (render_bind_cast=True, render_postcompile for the IN list)
-- purpose: get_table_names(schema='public') as sent by psycopg 3; bound values written in place of ${n}: $1='r', $2='p', $3='t', $4='public'
SELECT pg_catalog.pg_class.relname 
FROM pg_catalog.pg_class JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace 
WHERE pg_catalog.pg_class.relkind = ANY (ARRAY['r'::VARCHAR, 'p'::VARCHAR]) AND pg_catalog.pg_class.relpersistence != 't'::VARCHAR AND pg_catalog.pg_namespace.nspname = 'public'::VARCHAR
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py — get_view_names(schema='public'), compiled by SQLAlchemy 2.0.58 for the psycopg (v3) dialect (render_bind_cast=True, render_postcompile for the IN list)
-- purpose: get_view_names(schema='public') as sent by psycopg 3; bound values written in place of ${n}: $1='v', $2='t', $3='public'
SELECT pg_catalog.pg_class.relname 
FROM pg_catalog.pg_class JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace 
WHERE pg_catalog.pg_class.relkind = ANY (ARRAY['v'::VARCHAR]) AND pg_catalog.pg_class.relpersistence != 't'::VARCHAR AND pg_catalog.pg_namespace.nspname = 'public'::VARCHAR
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py — get_materialized_view_names(schema='public'), compiled by SQLAlchemy 2.0.58 for the psycopg (v3) dialect (render_bind_cast=True, render_postcompile for the IN list)
-- purpose: get_materialized_view_names(schema='public') as sent by psycopg 3; bound values written in place of ${n}: $1='m', $2='t', $3='public'
SELECT pg_catalog.pg_class.relname 
FROM pg_catalog.pg_class JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace 
WHERE pg_catalog.pg_class.relkind = ANY (ARRAY['m'::VARCHAR]) AND pg_catalog.pg_class.relpersistence != 't'::VARCHAR AND pg_catalog.pg_namespace.nspname = 'public'::VARCHAR
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py — get_columns('bids', schema='public'), compiled by SQLAlchemy 2.0.58 for the psycopg (v3) dialect (render_bind_cast=True, render_postcompile for the IN list)
-- purpose: get_columns('bids', schema='public') as sent by psycopg 3; bound values written in place of ${n}: $1='always', $2='a', $3='start', $4='increment', $5='minvalue', $6='maxvalue', $7='cache', $8='cycle', $9='', $10=0, $11=0, $12='r', $13='p', $14='f', $15='v', $16='m', $17='public', $18='bids'
SELECT pg_catalog.pg_attribute.attname AS name, pg_catalog.format_type(pg_catalog.pg_attribute.atttypid, pg_catalog.pg_attribute.atttypmod) AS format_type, (SELECT pg_catalog.pg_get_expr(pg_catalog.pg_attrdef.adbin, pg_catalog.pg_attrdef.adrelid) AS pg_get_expr_1 
FROM pg_catalog.pg_attrdef 
WHERE pg_catalog.pg_attrdef.adrelid = pg_catalog.pg_attribute.attrelid AND pg_catalog.pg_attrdef.adnum = pg_catalog.pg_attribute.attnum AND pg_catalog.pg_attribute.atthasdef) AS "default", pg_catalog.pg_attribute.attnotnull AS not_null, pg_catalog.pg_class.relname AS table_name, pg_catalog.pg_description.description AS comment, pg_catalog.pg_attribute.attgenerated AS generated, (SELECT json_build_object('always'::VARCHAR, pg_catalog.pg_attribute.attidentity = 'a'::VARCHAR, 'start'::VARCHAR, pg_catalog.pg_sequence.seqstart, 'increment'::VARCHAR, pg_catalog.pg_sequence.seqincrement, 'minvalue'::VARCHAR, pg_catalog.pg_sequence.seqmin, 'maxvalue'::VARCHAR, pg_catalog.pg_sequence.seqmax, 'cache'::VARCHAR, pg_catalog.pg_sequence.seqcache, 'cycle'::VARCHAR, pg_catalog.pg_sequence.seqcycle) AS json_build_object_1 
FROM pg_catalog.pg_sequence 
WHERE pg_catalog.pg_attribute.attidentity != ''::VARCHAR AND pg_catalog.pg_sequence.seqrelid = CAST(CAST(pg_catalog.pg_get_serial_sequence(CAST(CAST(pg_catalog.pg_attribute.attrelid AS REGCLASS) AS TEXT), pg_catalog.pg_attribute.attname) AS REGCLASS) AS OID)) AS identity_options, CASE WHEN (pg_catalog.pg_attribute.attcollation != 0::INTEGER AND (SELECT pg_catalog.pg_type.typcollation 
FROM pg_catalog.pg_type 
WHERE pg_catalog.pg_type.oid = pg_catalog.pg_attribute.atttypid) != pg_catalog.pg_attribute.attcollation) THEN (SELECT pg_catalog.pg_collation.collname 
FROM pg_catalog.pg_collation 
WHERE pg_catalog.pg_collation.oid = pg_catalog.pg_attribute.attcollation) ELSE NULL END AS collation 
FROM pg_catalog.pg_class LEFT OUTER JOIN pg_catalog.pg_attribute ON pg_catalog.pg_class.oid = pg_catalog.pg_attribute.attrelid AND pg_catalog.pg_attribute.attnum > 0::SMALLINT AND NOT pg_catalog.pg_attribute.attisdropped LEFT OUTER JOIN pg_catalog.pg_description ON pg_catalog.pg_description.objoid = pg_catalog.pg_attribute.attrelid AND pg_catalog.pg_description.objsubid = pg_catalog.pg_attribute.attnum JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace 
WHERE pg_catalog.pg_class.relkind = ANY (ARRAY['r'::VARCHAR, 'p'::VARCHAR, 'f'::VARCHAR, 'v'::VARCHAR, 'm'::VARCHAR]) AND pg_catalog.pg_namespace.nspname = 'public'::VARCHAR AND pg_catalog.pg_class.relname IN ('bids'::VARCHAR) ORDER BY pg_catalog.pg_class.relname, pg_catalog.pg_attribute.attnum
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py — get_columns('bids', schema='public'), compiled by SQLAlchemy 2.0.58 for the psycopg (v3) dialect (render_bind_cast=True, render_postcompile for the IN list)
-- purpose: get_columns('bids', schema='public') as sent by psycopg 3; bound values written in place of ${n}: $1=true, $2=0, $3='d'
SELECT pg_catalog.pg_type.typname AS name, pg_catalog.format_type(pg_catalog.pg_type.typbasetype, pg_catalog.pg_type.typtypmod) AS attype, NOT pg_catalog.pg_type.typnotnull AS nullable, pg_catalog.pg_type.typdefault AS "default", pg_catalog.pg_type_is_visible(pg_catalog.pg_type.oid) AS visible, pg_catalog.pg_namespace.nspname AS schema, domain_constraints.condefs, domain_constraints.connames, pg_catalog.pg_collation.collname 
FROM pg_catalog.pg_type JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_type.typnamespace LEFT OUTER JOIN pg_catalog.pg_collation ON pg_catalog.pg_type.typcollation = pg_catalog.pg_collation.oid LEFT OUTER JOIN (SELECT pg_catalog.pg_constraint.contypid AS contypid, array_agg(pg_catalog.pg_get_constraintdef(pg_catalog.pg_constraint.oid, true)) AS condefs, array_agg(CAST(pg_catalog.pg_constraint.conname AS TEXT)) AS connames 
FROM pg_catalog.pg_constraint 
WHERE pg_catalog.pg_constraint.contypid != 0::INTEGER GROUP BY pg_catalog.pg_constraint.contypid) AS domain_constraints ON pg_catalog.pg_type.oid = domain_constraints.contypid 
WHERE pg_catalog.pg_type.typtype = 'd'::VARCHAR ORDER BY pg_catalog.pg_namespace.nspname, pg_catalog.pg_type.typname
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py — get_columns('bids', schema='public'), compiled by SQLAlchemy 2.0.58 for the psycopg (v3) dialect (render_bind_cast=True, render_postcompile for the IN list)
-- purpose: get_columns('bids', schema='public') as sent by psycopg 3; bound values written in place of ${n}: $1='e'
SELECT pg_catalog.pg_type.typname AS name, pg_catalog.pg_type_is_visible(pg_catalog.pg_type.oid) AS visible, pg_catalog.pg_namespace.nspname AS schema, lbl_agg.labels AS labels 
FROM pg_catalog.pg_type JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_type.typnamespace LEFT OUTER JOIN (SELECT pg_catalog.pg_enum.enumtypid AS enumtypid, array_agg(CAST(pg_catalog.pg_enum.enumlabel AS TEXT) ORDER BY pg_catalog.pg_enum.enumsortorder) AS labels 
FROM pg_catalog.pg_enum GROUP BY pg_catalog.pg_enum.enumtypid) AS lbl_agg ON pg_catalog.pg_type.oid = lbl_agg.enumtypid 
WHERE pg_catalog.pg_type.typtype = 'e'::VARCHAR ORDER BY pg_catalog.pg_namespace.nspname, pg_catalog.pg_type.typname
;

-- source: sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/base.py — get_table_comment('bids', schema='public'), compiled by SQLAlchemy 2.0.58 for the psycopg (v3) dialect (render_bind_cast=True, render_postcompile for the IN list)
-- purpose: get_table_comment('bids', schema='public') as sent by psycopg 3; bound values written in place of ${n}: $1=0, $2='pg_catalog.pg_class', $3='r', $4='p', $5='f', $6='v', $7='m', $8='public', $9='bids'
SELECT pg_catalog.pg_class.relname, pg_catalog.pg_description.description 
FROM pg_catalog.pg_class LEFT OUTER JOIN pg_catalog.pg_description ON pg_catalog.pg_class.oid = pg_catalog.pg_description.objoid AND pg_catalog.pg_description.objsubid = 0::INTEGER AND pg_catalog.pg_description.classoid = CAST('pg_catalog.pg_class' AS REGCLASS) JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace 
WHERE pg_catalog.pg_class.relkind = ANY (ARRAY['r'::VARCHAR, 'p'::VARCHAR, 'f'::VARCHAR, 'v'::VARCHAR, 'm'::VARCHAR]) AND pg_catalog.pg_namespace.nspname = 'public'::VARCHAR AND pg_catalog.pg_class.relname IN ('bids'::VARCHAR)
;
