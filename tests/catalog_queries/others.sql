-- Other tools seen in the RisingWave / Materialize / datafusion-postgres threads: DataGrip, pgcli, Tableau.
-- Only statements whose full text appears in a source are listed (see README for tools with errors but no SQL).

-- ==================== DataGrip (JetBrains, pgjdbc) ====================

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/datagrip.rs (DataGrip 2025.2.3 startup queries, captured)
-- purpose: DataGrip connect: pgjdbc init
SET extra_float_digits = 3
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/datagrip.rs (DataGrip 2025.2.3 startup queries, captured)
-- purpose: DataGrip connect: pgjdbc init (empty ApplicationName)
SET application_name = ''
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/datagrip.rs (DataGrip 2025.2.3 startup queries, captured)
-- purpose: DataGrip connect: server version
select version()
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/datagrip.rs (DataGrip 2025.2.3 startup queries, captured)
-- purpose: DataGrip connect: DataGrip client name
SET application_name = 'DataGrip 2025.2.3'
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/datagrip.rs (DataGrip 2025.2.3 startup queries, captured)
-- purpose: DataGrip connect: current database and schemas; current_schemas(false) returns name[]
select current_database() as a, current_schemas(false) as b
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/datagrip.rs (DataGrip 2025.2.3 startup queries, captured)
-- purpose: DataGrip connect: pgjdbc getTransactionIsolation
SHOW TRANSACTION ISOLATION LEVEL
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/datagrip.rs (DataGrip 2025.2.3 startup queries, captured)
-- purpose: DataGrip connect: server start time (pg_postmaster_start_time, AT TIME ZONE, extract epoch)
select round(extract(epoch from pg_postmaster_start_time() at time zone 'UTC')) as startup_time
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/datagrip.rs (DataGrip 2025.2.3 startup queries, captured)
-- purpose: DataGrip connect: oldest transaction id — risingwave #23133: 'function age(integer) does not exist'
select L.transactionid::varchar::bigint as transaction_id
        from pg_catalog.pg_locks L
        where L.transactionid is not null
        order by pg_catalog.age(L.transactionid) desc
        limit 1
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/datagrip.rs (DataGrip 2025.2.3 startup queries, captured)
-- purpose: DataGrip connect: current txid (pg_is_in_recovery, txid_current)
select case
          when pg_catalog.pg_is_in_recovery()
            then null
          else
            (pg_catalog.txid_current() % 4294967296)::varchar::bigint
          end as current_txid
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/datagrip.rs (DataGrip 2025.2.3 startup queries, captured)
-- purpose: DataGrip connect: databases with comments and owners
select N.oid::bigint as id,
               datname as name,
               D.description,
               datistemplate as is_template,
               datallowconn as allow_connections,
               pg_catalog.pg_get_userbyid(N.datdba) as "owner"
        from pg_catalog.pg_database N
          left join pg_catalog.pg_shdescription D on N.oid = D.objoid
        order by case when datname = pg_catalog.current_database() then -1::bigint else N.oid::bigint end
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/datagrip.rs (DataGrip 2025.2.3 startup queries, captured)
-- purpose: DataGrip connect: schemas — needs system column xmin on pg_namespace (risingwave #23133: 'Invalid column: xmin')
-- known-failure: 42703 the xmin system column is not provided
select N.oid::bigint as id,
               N.xmin as state_number,
               nspname as name,
               D.description,
               pg_catalog.pg_get_userbyid(N.nspowner) as "owner"
        from pg_catalog.pg_namespace N
          left join pg_catalog.pg_description D on N.oid = D.objoid
        order by case when nspname = pg_catalog.current_schema() then -1::bigint else N.oid::bigint end
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/datagrip.rs (DataGrip 2025.2.3 startup queries, captured)
-- purpose: DataGrip connect: pgjdbc TypeInfoCache.getSQLType(28) (xid), oid bound — logged as '28'
SELECT typinput='pg_catalog.array_in'::regproc as is_array, typtype, typname, pg_type.oid   FROM pg_catalog.pg_type   LEFT JOIN (select ns.oid as nspoid, ns.nspname, r.r           from pg_namespace as ns           join ( select s.r, (current_schemas(false))[s.r] as nspname                    from generate_series(1, array_upper(current_schemas(false), 1)) as s(r) ) as r          using ( nspname )        ) as sp     ON sp.nspoid = typnamespace  WHERE pg_type.oid = '28'  ORDER BY sp.r, pg_type.oid DESC
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/datagrip.rs (DataGrip 2025.2.3 startup queries, captured)
-- purpose: DataGrip connect: DateStyle
show DateStyle
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/datagrip.rs (DataGrip 2025.2.3 startup queries, captured)
-- purpose: DataGrip connect: time zones — risingwave #23133: parser error on 'union distinct'
select name, is_dst from pg_catalog.pg_timezone_names
        union distinct
        select abbrev as name, is_dst from pg_catalog.pg_timezone_abbrevs
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/datagrip.rs (DataGrip 2025.2.3 startup queries, captured)
-- purpose: DataGrip connect: roles — risingwave #23133: 'Invalid column: rolconfig'
select R.oid::bigint as role_id, rolname as role_name,
          rolsuper is_super, rolinherit is_inherit,
          rolcreaterole can_createrole, rolcreatedb can_createdb,
          rolcanlogin can_login, rolreplication /* false */ is_replication,
          rolconnlimit conn_limit, rolvaliduntil valid_until,
          rolbypassrls /* false */ bypass_rls, rolconfig config,
          D.description
        from pg_catalog.pg_roles R
          left join pg_catalog.pg_shdescription D on D.objoid = R.oid
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/datagrip.rs (DataGrip 2025.2.3 startup queries, captured)
-- purpose: DataGrip connect: role membership
select member id, roleid role_id, admin_option
                  from pg_catalog.pg_auth_members order by id, roleid::text
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/datagrip.rs (DataGrip 2025.2.3 startup queries, captured)
-- purpose: DataGrip connect: tablespaces — needs xmin on pg_tablespace; trailing line is a SQL comment
-- known-failure: 42703 the xmin system column is not provided
select T.oid::bigint as id, T.spcname as name,
               T.xmin as state_number, pg_catalog.pg_get_userbyid(T.spcowner) as owner,
               pg_catalog.pg_tablespace_location(T.oid) /* null */ as location,
               T.spcoptions /* null */ as options,
               D.description as comment
        from pg_catalog.pg_tablespace T
          left join pg_catalog.pg_shdescription D on D.objoid = T.oid
        --  where pg_catalog.age(T.xmin) <= #TXAGE
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/datagrip.rs (DataGrip 2025.2.3 startup queries, captured)
-- purpose: DataGrip connect: ACLs of tablespaces and databases (UNION ALL of aclitem[])
-- known-failure: 42000 UNION of text and aclitem[] columns
select T.oid as object_id,
                         T.spcacl as acl
                  from pg_catalog.pg_tablespace T
                  union all
                  select T.oid as object_id,
                         T.datacl as acl
                  from pg_catalog.pg_database T
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/datagrip.rs (DataGrip 2025.2.3 startup queries, captured)
-- purpose: DataGrip connect: pgjdbc TypeInfoCache.getSQLType(1034) (aclitem[])
SELECT typinput='pg_catalog.array_in'::regproc as is_array, typtype, typname, pg_type.oid   FROM pg_catalog.pg_type   LEFT JOIN (select ns.oid as nspoid, ns.nspname, r.r           from pg_namespace as ns           join ( select s.r, (current_schemas(false))[s.r] as nspname                    from generate_series(1, array_upper(current_schemas(false), 1)) as s(r) ) as r          using ( nspname )        ) as sp     ON sp.nspoid = typnamespace  WHERE pg_type.oid = '1034'  ORDER BY sp.r, pg_type.oid DESC
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/datagrip.rs (DataGrip 2025.2.3 startup queries, captured)
-- purpose: DataGrip connect: pgjdbc getArrayDelimiter(1034)
SELECT e.typdelim FROM pg_catalog.pg_type t, pg_catalog.pg_type e WHERE t.oid = '1034' and t.typelem = e.oid
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/datagrip.rs (DataGrip 2025.2.3 startup queries, captured)
-- purpose: DataGrip connect: pgjdbc getPGArrayElement(1034)
SELECT e.oid, n.nspname = ANY(current_schemas(true)), n.nspname, e.typname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_type e ON t.typelem = e.oid JOIN pg_catalog.pg_namespace n ON t.typnamespace = n.oid WHERE t.oid = '1034'
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/datagrip.rs (DataGrip 2025.2.3 startup queries, captured)
-- purpose: DataGrip connect: pgjdbc TypeInfoCache.getSQLType(1033) (aclitem)
SELECT typinput='pg_catalog.array_in'::regproc as is_array, typtype, typname, pg_type.oid   FROM pg_catalog.pg_type   LEFT JOIN (select ns.oid as nspoid, ns.nspname, r.r           from pg_namespace as ns           join ( select s.r, (current_schemas(false))[s.r] as nspname                    from generate_series(1, array_upper(current_schemas(false), 1)) as s(r) ) as r          using ( nspname )        ) as sp     ON sp.nspoid = typnamespace  WHERE pg_type.oid = '1033'  ORDER BY sp.r, pg_type.oid DESC
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/datagrip.rs (DataGrip 2025.2.3 startup queries, captured)
-- purpose: DataGrip connect: SSL status of the session
-- known-failure: 42P01 pg_stat_ssl is not provided
select ssl from pg_stat_ssl where pid = pg_backend_pid()
;

-- ==================== pgcli (psycopg) ====================

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/pgcli.rs and issue #147 (pgcli startup log); pgcli is also in risingwavelabs/risingwave#2613 ('pgcli testing') and MaterializeInc/materialize#8229 ('unknown catalog item regtype')
-- purpose: pgcli: connection check
SELECT 1
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/pgcli.rs and issue #147 (pgcli startup log); pgcli is also in risingwavelabs/risingwave#2613 ('pgcli testing') and MaterializeInc/materialize#8229 ('unknown catalog item regtype')
-- purpose: pgcli: timezone
show time zone
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/pgcli.rs and issue #147 (pgcli startup log); pgcli is also in risingwavelabs/risingwave#2613 ('pgcli testing') and MaterializeInc/materialize#8229 ('unknown catalog item regtype')
-- purpose: pgcli: set timezone from the client (value = local zone)
set time zone "Asia/Shanghai"
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/pgcli.rs and issue #147 (pgcli startup log); pgcli is also in risingwavelabs/risingwave#2613 ('pgcli testing') and MaterializeInc/materialize#8229 ('unknown catalog item regtype')
-- purpose: pgcli: search path schemas
SELECT * FROM unnest(current_schemas(true))
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/pgcli.rs and issue #147 (pgcli startup log); pgcli is also in risingwavelabs/risingwave#2613 ('pgcli testing') and MaterializeInc/materialize#8229 ('unknown catalog item regtype')
-- purpose: pgcli: schema names
SELECT  nspname
                FROM    pg_catalog.pg_namespace
                ORDER BY 1
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/pgcli.rs and issue #147 (pgcli startup log); pgcli is also in risingwavelabs/risingwave#2613 ('pgcli testing') and MaterializeInc/materialize#8229 ('unknown catalog item regtype')
-- purpose: pgcli: tables; relkind array was a bind param in the #147 log ($1 = '{r,p,f}')
SELECT  n.nspname schema_name,
                        c.relname table_name
                FROM    pg_catalog.pg_class c
                        LEFT JOIN pg_catalog.pg_namespace n
                            ON n.oid = c.relnamespace
                WHERE   c.relkind = ANY('{r,p,f}')
                ORDER BY 1,2
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/pgcli.rs and issue #147 (pgcli startup log); pgcli is also in risingwavelabs/risingwave#2613 ('pgcli testing') and MaterializeInc/materialize#8229 ('unknown catalog item regtype')
-- purpose: pgcli: table columns; atttypid::regtype::text (Materialize #8229)
SELECT  nsp.nspname schema_name,
                                cls.relname table_name,
                                att.attname column_name,
                                att.atttypid::regtype::text type_name,
                                att.atthasdef AS has_default,
                                pg_catalog.pg_get_expr(def.adbin, def.adrelid, true) as default
                        FROM    pg_catalog.pg_attribute att
                                INNER JOIN pg_catalog.pg_class cls
                                    ON att.attrelid = cls.oid
                                INNER JOIN pg_catalog.pg_namespace nsp
                                    ON cls.relnamespace = nsp.oid
                                LEFT OUTER JOIN pg_attrdef def
                                    ON def.adrelid = att.attrelid
                                    AND def.adnum = att.attnum
                        WHERE   cls.relkind = ANY('{r,p,f}')
                                AND NOT att.attisdropped
                                AND att.attnum  > 0
                        ORDER BY 1, 2, att.attnum
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/pgcli.rs and issue #147 (pgcli startup log); pgcli is also in risingwavelabs/risingwave#2613 ('pgcli testing') and MaterializeInc/materialize#8229 ('unknown catalog item regtype')
-- purpose: pgcli: views and materialized views
SELECT  n.nspname schema_name,
                        c.relname table_name
                FROM    pg_catalog.pg_class c
                        LEFT JOIN pg_catalog.pg_namespace n
                            ON n.oid = c.relnamespace
                WHERE   c.relkind = ANY('{v,m}')
                ORDER BY 1,2
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/pgcli.rs and issue #147 (pgcli startup log); pgcli is also in risingwavelabs/risingwave#2613 ('pgcli testing') and MaterializeInc/materialize#8229 ('unknown catalog item regtype')
-- purpose: pgcli: view / materialized view columns
SELECT  nsp.nspname schema_name,
                                cls.relname table_name,
                                att.attname column_name,
                                att.atttypid::regtype::text type_name,
                                att.atthasdef AS has_default,
                                pg_catalog.pg_get_expr(def.adbin, def.adrelid, true) as default
                        FROM    pg_catalog.pg_attribute att
                                INNER JOIN pg_catalog.pg_class cls
                                    ON att.attrelid = cls.oid
                                INNER JOIN pg_catalog.pg_namespace nsp
                                    ON cls.relnamespace = nsp.oid
                                LEFT OUTER JOIN pg_attrdef def
                                    ON def.adrelid = att.attrelid
                                    AND def.adnum = att.attnum
                        WHERE   cls.relkind = ANY('{v,m}')
                                AND NOT att.attisdropped
                                AND att.attnum  > 0
                        ORDER BY 1, 2, att.attnum
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/pgcli.rs and issue #147 (pgcli startup log); pgcli is also in risingwavelabs/risingwave#2613 ('pgcli testing') and MaterializeInc/materialize#8229 ('unknown catalog item regtype')
-- purpose: pgcli: database names
SELECT d.datname
                FROM pg_catalog.pg_database d
                ORDER BY 1
;

-- ==================== Tableau (PostgreSQL connector) ====================

-- source: geldata/gel#4814 (comment by fantix, 2023-01-14: 'Some of the queries Tableau uses'); see also risingwavelabs/risingwave#10459 (tracking: support tableau — needed SET client_min_messages / client_encoding / extra_float_digits / timezone)
-- purpose: Tableau connect check: can it create a temp table (SELECT INTO TEMPORARY TABLE)
-- known-failure: 0A000 Sluice has no temporary tables (Tableau then works without them)
SELECT *
INTO TEMPORARY TABLE "#Tableau_3273_B9804D3E-4C89-4181-9CAF-F42161F5FCDE_1_Connect_Ch"
FROM (SELECT 1 AS COL) AS CHECKTEMP
LIMIT 1
;

-- source: geldata/gel#4814 (comment by fantix, 2023-01-14: 'Some of the queries Tableau uses'); see also risingwavelabs/risingwave#10459 (tracking: support tableau — needed SET client_min_messages / client_encoding / extra_float_digits / timezone)
-- purpose: Tableau connect check cleanup
-- known-failure: 42P01 the temporary table was not created
DROP TABLE "#Tableau_3273_B9804D3E-4C89-4181-9CAF-F42161F5FCDE_1_Connect_Ch"
;
