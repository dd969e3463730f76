-- Apache Superset (PostgresEngineSpec, default driver psycopg2) — statements Superset itself issues, in addition to
-- the SQLAlchemy inspector queries (schemas, tables + foreign tables, views, columns, pk, fks, indexes, table comment),
-- which are in sqlalchemy.sql Part 1 (psycopg2 rendering) and are what Superset sends when browsing in SQL Lab /
-- creating a dataset. Source: apache/superset superset/db_engine_specs/postgres.py (stored commit
-- 007e4f5f4b4a4b08b24b1f2fc14bcf5abb16237d) and superset/commands/database/test_connection.py.

-- source: apache/superset superset/commands/database/test_connection.py (engine.dialect.do_ping(conn)) → SQLAlchemy psycopg2 do_ping
-- purpose: 'Test connection' button
-- note: with postgresql+psycopg (v3) the ping is the empty query ';' instead (see sqlalchemy.sql)
SELECT 1
;

-- source: apache/superset superset/db_engine_specs/postgres.py PostgresEngineSpec.get_catalog_names (sent via inspector.bind.execute)
-- purpose: list catalogs (= databases) — multi-catalog support
-- note: the Python literal starts with a newline and ends with spaces after the ';'
SELECT datname FROM pg_database
WHERE datistemplate = false
;

-- source: apache/superset superset/db_engine_specs/postgres.py PostgresEngineSpec.get_prequeries(schema='public')
-- purpose: run before every SQL Lab query when a schema is selected
set search_path = "public"
;

-- source: apache/superset superset/db_engine_specs/postgres.py PostgresEngineSpec.get_cancel_query_id
-- purpose: get backend pid before running a SQL Lab query (for cancel)
SELECT pg_backend_pid()
;

-- source: apache/superset superset/db_engine_specs/postgres.py PostgresEngineSpec.cancel_query (pid from pg_backend_pid; 12345 used)
-- purpose: cancel a running SQL Lab query from a second connection
-- known-failure: 42P01 pg_stat_activity is not provided
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid='12345'
;
