-- DBeaver (PostgreSQL driver plugin org.jkiss.dbeaver.ext.postgresql, over pgjdbc) — connect + navigator browse.
-- DBeaver uses prepared statements with '?' binds (pgjdbc → $1..). Values inlined here:
--   database 'dev', schema 'public', table 'bids', public schema oid 2200 (the fixed oid of schema public in
--   PostgreSQL; DBeaver binds pg_namespace.oid it read earlier), relation oid 16384 (bound or concatenated, noted).
-- Order ≈ what DBeaver does on connect (Main + Metadata contexts each run the context-init part), then what expanding
-- Databases ▸ dev ▸ Schemas ▸ public ▸ Tables ▸ bids ▸ Columns/Constraints/Indexes/DDL triggers.
-- Sources (dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/…):
--   PostgreDataSource.java   (index file id 1454559585 — 2024+ version; also id 1963094293, 2021 version)
--   PostgreDatabase.java     (index file id 1490086417, © 2010-2024)
--   PostgreSchema.java       (index file id 1473230077, © 2010-2024)
--   PostgreExecutionContext.java (index file id 1227290951, © 2010-2021)
--   PostgreViewBase.java     (stored commit 01d650bd23e10383cd1b4110afa502a78eb7df2f)
--   PostgreUtils.java        (index file id 420653520: getQueryForSystemColumnChecking)
--   PostgreDataTypeCache.java (index file id 1656842924: getBaseTypeNameClause)
-- Observed wire text: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/dbeaver.rs + issue #135
-- (DBeaver 25.1.5; that list was OCR'd from screenshots and has typos — the source text below is authoritative).

-- ==================== connect: pgjdbc init, client info ====================

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/dbeaver.rs (DBeaver 25.1.5); pgjdbc ConnectionFactoryImpl
-- purpose: pgjdbc connection init
SET extra_float_digits = 3
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/dbeaver.rs (DBeaver 25.1.5); pgjdbc default ApplicationName
-- purpose: pgjdbc connection init
SET application_name = 'PostgreSQL JDBC Driver'
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/dbeaver.rs (DBeaver 25.1.5); dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDataSource.java openConnection → pgConnection.setClientInfo("ApplicationName", …)
-- purpose: DBeaver sets its own application name per context (Main / Metadata)
SET application_name = 'DBeaver 25.1.5 - Main <postgres>'
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/dbeaver.rs (DBeaver 25.1.5)
-- purpose: same for the metadata context
SET application_name = 'DBeaver 25.1.5 - Metadata <postgres>'
;

-- ==================== connect: context defaults (PostgreExecutionContext.refreshDefaults) ====================

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreExecutionContext.java refreshDefaults(); datafusion-contrib/datafusion-postgres datafusion-postgres/tests/dbeaver.rs (DBeaver 25.1.5)
-- purpose: current schema and user of the new context
SELECT current_schema(),session_user
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java SchemaCache.prepareLookupStatement (no filter) + " ORDER BY nspname"; datafusion-contrib/datafusion-postgres datafusion-postgres/tests/dbeaver.rs (DBeaver 25.1.5)
-- purpose: list schemas with comments (pre-cached by refreshDefaults); needs pg_namespace.oid selected both explicitly and via n.*, and 'pg_namespace'::regclass
SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass
 ORDER BY nspname
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreExecutionContext.java refreshDefaults(); datafusion-contrib/datafusion-postgres datafusion-postgres/tests/dbeaver.rs (DBeaver 25.1.5)
-- purpose: read search_path
SHOW search_path
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreExecutionContext.java setSearchPath(…) (only when a default schema is configured in the connection bootstrap settings, or when the user switches the active schema)
-- purpose: set search path: default search path with the chosen schema moved first, identifiers quoted by DBeaver's dialect
-- note: illustrative value: DBeaver builds the list from SHOW search_path; with the default '"$user", public' and schema public it emits this
SET search_path = "$user",public
;

-- ==================== connect: database info, settings, version, probes, types ====================

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java readDatabaseInfo(); bind datname='dev'; datafusion-contrib/datafusion-postgres datafusion-postgres/tests/dbeaver.rs (DBeaver 25.1.5)
-- purpose: read the current database row (oid + all pg_database columns: datdba, encoding, datcollate, datctype, datistemplate, datallowconn, datconnlimit, dattablespace …)
-- note: risingwavelabs/risingwave#9800 (Navicat) and MaterializeInc/materialize#20986 show tools failing on missing pg_database columns (dattablespace, datallowconn)
SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE datname='dev'
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDataSource.java prepareReadDatabaseListStatement() — only with 'Show all databases' enabled; bind ?='dev' (connection database)
-- purpose: list connectable databases
-- note: MaterializeInc/materialize#20986 / dbeaver/dbeaver#21184: 'column "datallowconn" does not exist' with this option
SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE 1 = 1 AND datallowconn AND NOT datistemplate OR db.datname ='dev'
ORDER BY db.datname
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDataSource.java loadAvailableDatabases() (only when the active database name is unknown)
-- purpose: current database
SELECT current_database()
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDataSource.java SettingCache lookup of OPTION_STANDARD_CONFORMING_STRINGS; bind name='standard_conforming_strings'; datafusion-contrib/datafusion-postgres datafusion-postgres/tests/dbeaver.rs (DBeaver 25.1.5)
-- purpose: preload standard_conforming_strings
select * from pg_catalog.pg_settings where name='standard_conforming_strings'
;

-- source: pgjdbc 42.x PgDatabaseMetaData.getSQLKeywords() (called by DBeaver's JDBC dialect init); text from pgjdbc 42.5.5 jar; datafusion-contrib/datafusion-postgres datafusion-postgres/tests/dbeaver.rs (DBeaver 25.1.5)
-- purpose: SQL keywords for the editor
-- note: pgjdbc sends this only for server >= 9.0
select string_agg(word, ',') from pg_catalog.pg_get_keywords() where word <> ALL ('{a,abs,absolute,action,ada,add,admin,after,all,allocate,alter,always,and,any,are,array,as,asc,asensitive,assertion,assignment,asymmetric,at,atomic,attribute,attributes,authorization,avg,before,begin,bernoulli,between,bigint,binary,blob,boolean,both,breadth,by,c,call,called,cardinality,cascade,cascaded,case,cast,catalog,catalog_name,ceil,ceiling,chain,char,char_length,character,character_length,character_set_catalog,character_set_name,character_set_schema,characteristics,characters,check,checked,class_origin,clob,close,coalesce,cobol,code_units,collate,collation,collation_catalog,collation_name,collation_schema,collect,column,column_name,command_function,command_function_code,commit,committed,condition,condition_number,connect,connection_name,constraint,constraint_catalog,constraint_name,constraint_schema,constraints,constructors,contains,continue,convert,corr,corresponding,count,covar_pop,covar_samp,create,cross,cube,cume_dist,current,current_collation,current_date,current_default_transform_group,current_path,current_role,current_time,current_timestamp,current_transform_group_for_type,current_user,cursor,cursor_name,cycle,data,date,datetime_interval_code,datetime_interval_precision,day,deallocate,dec,decimal,declare,default,defaults,deferrable,deferred,defined,definer,degree,delete,dense_rank,depth,deref,derived,desc,describe,descriptor,deterministic,diagnostics,disconnect,dispatch,distinct,domain,double,drop,dynamic,dynamic_function,dynamic_function_code,each,element,else,end,end-exec,equals,escape,every,except,exception,exclude,excluding,exec,execute,exists,exp,external,extract,false,fetch,filter,final,first,float,floor,following,for,foreign,fortran,found,free,from,full,function,fusion,g,general,get,global,go,goto,grant,granted,group,grouping,having,hierarchy,hold,hour,identity,immediate,implementation,in,including,increment,indicator,initially,inner,inout,input,insensitive,insert,instance,instantiable,int,integer,intersect,intersection,interval,into,invoker,is,isolation,join,k,key,key_member,key_type,language,large,last,lateral,leading,left,length,level,like,ln,local,localtime,localtimestamp,locator,lower,m,map,match,matched,max,maxvalue,member,merge,message_length,message_octet_length,message_text,method,min,minute,minvalue,mod,modifies,module,month,more,multiset,mumps,name,names,national,natural,nchar,nclob,nesting,new,next,no,none,normalize,normalized,not,"null",nullable,nullif,nulls,number,numeric,object,octet_length,octets,of,old,on,only,open,option,options,or,order,ordering,ordinality,others,out,outer,output,over,overlaps,overlay,overriding,pad,parameter,parameter_mode,parameter_name,parameter_ordinal_position,parameter_specific_catalog,parameter_specific_name,parameter_specific_schema,partial,partition,pascal,path,percent_rank,percentile_cont,percentile_disc,placing,pli,position,power,preceding,precision,prepare,preserve,primary,prior,privileges,procedure,public,range,rank,read,reads,real,recursive,ref,references,referencing,regr_avgx,regr_avgy,regr_count,regr_intercept,regr_r2,regr_slope,regr_sxx,regr_sxy,regr_syy,relative,release,repeatable,restart,result,return,returned_cardinality,returned_length,returned_octet_length,returned_sqlstate,returns,revoke,right,role,rollback,rollup,routine,routine_catalog,routine_name,routine_schema,row,row_count,row_number,rows,savepoint,scale,schema,schema_name,scope_catalog,scope_name,scope_schema,scroll,search,second,section,security,select,self,sensitive,sequence,serializable,server_name,session,session_user,set,sets,similar,simple,size,smallint,some,source,space,specific,specific_name,specifictype,sql,sqlexception,sqlstate,sqlwarning,sqrt,start,state,statement,static,stddev_pop,stddev_samp,structure,style,subclass_origin,submultiset,substring,sum,symmetric,system,system_user,table,table_name,tablesample,temporary,then,ties,time,timestamp,timezone_hour,timezone_minute,to,top_level_count,trailing,transaction,transaction_active,transactions_committed,transactions_rolled_back,transform,transforms,translate,translation,treat,trigger,trigger_catalog,trigger_name,trigger_schema,trim,true,type,uescape,unbounded,uncommitted,under,union,unique,unknown,unnamed,unnest,update,upper,usage,user,user_defined_type_catalog,user_defined_type_code,user_defined_type_name,user_defined_type_schema,using,value,values,var_pop,var_samp,varchar,varying,view,when,whenever,where,width_bucket,window,with,within,without,work,write,year,zone}'::text[])
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDataSource.java initialize(); datafusion-contrib/datafusion-postgres datafusion-postgres/tests/dbeaver.rs (DBeaver 25.1.5)
-- purpose: server version string
SELECT version()
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDataSource.java initialize() → PostgreUtils.isMetaObjectExists(session, "pg_enum", "*") → getQueryForSystemColumnChecking; datafusion-contrib/datafusion-postgres datafusion-postgres/tests/dbeaver.rs (DBeaver 25.1.5)
-- purpose: probe: is pg_enum readable (server >= 12)
SELECT * FROM pg_catalog.pg_enum WHERE 1<>1 LIMIT 1
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDataSource.java initialize() → isMetaObjectExists(session, "pg_class", "reltype"); datafusion-contrib/datafusion-postgres datafusion-postgres/tests/dbeaver.rs (DBeaver 25.1.5); also seen in pgaudit logs of 'DBeaver 25.0.4 - Metadata'
-- purpose: probe: does pg_class have reltype
SELECT reltype FROM pg_catalog.pg_class WHERE 1<>1 LIMIT 1
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java supportsSysTypCategoryColumn() — only for server versions 8.4 .. 9.x (not sent to 16.6)
-- purpose: probe for pg_type.typcategory
SELECT typcategory FROM pg_catalog.pg_type WHERE 1<>1 LIMIT 1
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java cacheDataTypes() with PostgreDataTypeCache.getBaseTypeNameClause(); readAllTypes=false (default); datafusion-contrib/datafusion-postgres datafusion-postgres/tests/dbeaver.rs (DBeaver 25.1.5)
-- purpose: load all (non-table, non-array-of-composite) data types with descriptions; t.oid plus t.*, format_type(nullif(...))
SELECT t.oid,t.*,c.relkind,format_type(nullif(t.typbasetype, 0), t.typtypmod) as base_type_name, d.description
FROM pg_catalog.pg_type t
LEFT OUTER JOIN pg_catalog.pg_type et ON et.oid=t.typelem 
LEFT OUTER JOIN pg_catalog.pg_class c ON c.oid=t.typrelid
LEFT OUTER JOIN pg_catalog.pg_description d ON t.oid=d.objoid
WHERE t.typname IS NOT NULL
AND (c.relkind IS NULL OR c.relkind = 'c') AND (et.typcategory IS NULL OR et.typcategory <> 'C')
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java EnumValueCache (when the pg_enum probe succeeded)
-- purpose: load enum labels
SELECT * FROM pg_catalog.pg_enum
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/dbeaver.rs (DBeaver 25.1.5) (pgjdbc TypeInfoCache, triggered by the aclitem[] column pg_namespace.nspacl, oid 1034)
-- purpose: pgjdbc resolves an array type it has not cached
-- note: full TypeInfoCache set in pgjdbc_metadata.sql
SELECT n.nspname = ANY(current_schemas(true)), n.nspname, t.typname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON t.typnamespace = n.oid WHERE t.oid = 1034
;

-- source: datafusion-contrib/datafusion-postgres datafusion-postgres/tests/dbeaver.rs (DBeaver 25.1.5) (pgjdbc TypeInfoCache.getSQLType(1034))
-- purpose: pgjdbc: is oid 1034 an array type
-- note: typinput='pg_catalog.array_in'::regproc, generate_series AS s(r) column alias, JOIN … USING
SELECT typinput='pg_catalog.array_in'::regproc as is_array, typtype, typname, pg_type.oid   FROM pg_catalog.pg_type   LEFT JOIN (select ns.oid as nspoid, ns.nspname, r.r           from pg_namespace as ns           join ( select s.r, (current_schemas(false))[s.r] as nspname                    from generate_series(1, array_upper(current_schemas(false), 1)) as s(r) ) as r          using ( nspname )        ) as sp     ON sp.nspoid = typnamespace  WHERE pg_type.oid = 1034  ORDER BY sp.r, pg_type.oid DESC
;

-- ==================== browse schema 'public' (oid 2200) ====================

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java TableCache.prepareLookupStatement (server >= 10); bind relnamespace = 2200 (oid of schema public)
-- purpose: list all relations of the schema (tables, views, materialized views, sequences, foreign tables, partitions) with comments; needs every pg_class column (c.*), relispartition, relpartbound, pg_get_partkeydef
-- note: datafusion-postgres tests/dbeaver.rs has the same text with relnamespace=11 (pg_catalog)
SELECT c.oid,c.*,d.description,pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr,  pg_catalog.pg_get_partkeydef(c.oid) as partition_key 
FROM pg_catalog.pg_class c
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_class'::regclass
WHERE c.relnamespace=2200 AND c.relkind not in ('i','I','c')
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java TableCache.prepareLookupStatement for a single name; binds relnamespace=2200, relname='bids'
-- purpose: look up one relation by name
SELECT c.oid,c.*,d.description,pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr,  pg_catalog.pg_get_partkeydef(c.oid) as partition_key 
FROM pg_catalog.pg_class c
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_class'::regclass
WHERE c.relnamespace=2200 AND c.relkind not in ('i','I','c') AND relname='bids'
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java collectObjectStatistics(); bind relnamespace=2200
-- purpose: table sizes for the navigator (when statistics are shown)
select c.oid,pg_catalog.pg_total_relation_size(c.oid) as total_rel_size,pg_catalog.pg_relation_size(c.oid) as rel_size
FROM pg_class c
WHERE c.relnamespace=2200
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java TableCache.prepareChildrenStatement (forTable == null); bind relnamespace=2200
-- purpose: columns of all relations in the schema (includes system columns attnum<0: tableoid, ctid, xmin… are expected by DBeaver), defaults, comments, owned sequences via pg_depend
SELECT c.relname,a.*,pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) as def_value,dsc.description,dep.objid
FROM pg_catalog.pg_attribute a
INNER JOIN pg_catalog.pg_class c ON (a.attrelid=c.oid)
LEFT OUTER JOIN pg_catalog.pg_attrdef ad ON (a.attrelid=ad.adrelid AND a.attnum = ad.adnum)
LEFT OUTER JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)
LEFT OUTER JOIN pg_depend dep on dep.refobjid = a.attrelid AND dep.deptype = 'i' and dep.refobjsubid = a.attnum and dep.classid = dep.refclassid
WHERE NOT a.attisdropped AND c.relkind not in ('i','I','c') AND c.relnamespace=2200
ORDER BY a.attnum
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java TableCache.prepareChildrenStatement (forTable = bids); bind c.oid = 16384 (relation oid of bids)
-- purpose: columns of one table/view/materialized view
-- note: same text seen in dbeaver/dbeaver#35810 log with c.oid=5240976
SELECT c.relname,a.*,pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) as def_value,dsc.description,dep.objid
FROM pg_catalog.pg_attribute a
INNER JOIN pg_catalog.pg_class c ON (a.attrelid=c.oid)
LEFT OUTER JOIN pg_catalog.pg_attrdef ad ON (a.attrelid=ad.adrelid AND a.attnum = ad.adnum)
LEFT OUTER JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)
LEFT OUTER JOIN pg_depend dep on dep.refobjid = a.attrelid AND dep.deptype = 'i' and dep.refobjsubid = a.attnum and dep.classid = dep.refclassid
WHERE NOT a.attisdropped AND c.relkind not in ('i','I','c') AND c.oid=16384
ORDER BY a.attnum
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java ConstraintCache (forParent == null); bind t.relnamespace=2200
-- purpose: constraints (PK/FK/unique/check) of the schema
-- note: quoted function name "substring"(text, int)
SELECT c.oid,c.*,t.relname as tabrelname,rt.relnamespace as refnamespace,d.description, case when c.contype='c' then "substring"(pg_get_constraintdef(c.oid), 7) else null end consrc_copy
FROM pg_catalog.pg_constraint c
INNER JOIN pg_catalog.pg_class t ON t.oid=c.conrelid
LEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid=c.confrelid
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_constraint'::regclass
WHERE t.relnamespace=2200
ORDER BY c.oid
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java ConstraintCache (forParent = bids); bind c.conrelid=16384
-- purpose: constraints of one table
SELECT c.oid,c.*,t.relname as tabrelname,rt.relnamespace as refnamespace,d.description, case when c.contype='c' then "substring"(pg_get_constraintdef(c.oid), 7) else null end consrc_copy
FROM pg_catalog.pg_constraint c
INNER JOIN pg_catalog.pg_class t ON t.oid=c.conrelid
LEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid=c.confrelid
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_constraint'::regclass
WHERE c.conrelid=16384
ORDER BY c.oid
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java IndexCache (forTable = bids); bind i.indrelid=16384
-- purpose: indexes of one table
SELECT i.*,i.indkey as keys,c.relname,c.relnamespace,c.relam,c.reltablespace,tc.relname as tabrelname,dsc.description,pg_catalog.pg_get_expr(i.indpred, i.indrelid) as pred_expr,pg_catalog.pg_get_expr(i.indexprs, i.indrelid, true) as expr,pg_catalog.pg_relation_size(i.indexrelid) as index_rel_size,pg_catalog.pg_stat_get_numscans(i.indexrelid) as index_num_scans
FROM pg_catalog.pg_index i
INNER JOIN pg_catalog.pg_class c ON c.oid=i.indexrelid
INNER JOIN pg_catalog.pg_class tc ON tc.oid=i.indrelid
LEFT OUTER JOIN pg_catalog.pg_description dsc ON i.indexrelid=dsc.objoid
WHERE  i.indrelid=16384 ORDER BY c.relname
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java IndexCache (schema-wide); bind c.relnamespace=2200
-- purpose: indexes of the schema
SELECT i.*,i.indkey as keys,c.relname,c.relnamespace,c.relam,c.reltablespace,tc.relname as tabrelname,dsc.description,pg_catalog.pg_get_expr(i.indpred, i.indrelid) as pred_expr,pg_catalog.pg_get_expr(i.indexprs, i.indrelid, true) as expr,pg_catalog.pg_relation_size(i.indexrelid) as index_rel_size,pg_catalog.pg_stat_get_numscans(i.indexrelid) as index_num_scans
FROM pg_catalog.pg_index i
INNER JOIN pg_catalog.pg_class c ON c.oid=i.indexrelid
INNER JOIN pg_catalog.pg_class tc ON tc.oid=i.indrelid
LEFT OUTER JOIN pg_catalog.pg_description dsc ON i.indexrelid=dsc.objoid
WHERE  c.relnamespace=2200 ORDER BY c.relname
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java cacheTableInheritance(); bind rc.relnamespace=2200
-- purpose: inheritance / partition parents (cacheStructure with associations)
SELECT i.inhrelid relid, pc.relnamespace parent_ns, pc.oid parent_oid, i.inhseqno
FROM pg_catalog.pg_inherits i, pg_class rc, pg_class pc
WHERE rc.oid=i.inhrelid AND rc.relnamespace=2200 AND pc.oid=i.inhparent
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java ProceduresCache (server >= 8.4); bind p.pronamespace=2200
-- purpose: functions/procedures folder
SELECT p.oid as poid,p.*,pg_catalog.pg_get_expr(p.proargdefaults, 0) as arg_defaults,d.description
FROM pg_catalog.pg_proc p
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=p.oid and d.classoid='pg_proc'::regclass  AND d.objsubid = 0
WHERE p.pronamespace=2200
ORDER BY p.proname
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java AggregateCache; bind p.pronamespace=2200
-- purpose: aggregate functions folder
SELECT p.oid AS proc_oid,p.proname AS proc_name,a.*
FROM pg_catalog.pg_aggregate a,pg_catalog.pg_proc p
WHERE p.oid=a.aggfnoid AND p.pronamespace=2200
ORDER BY p.proname
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java ExtensionCache; bind e.extnamespace=2200
-- purpose: extensions installed in the schema
SELECT 
 e.oid,
 cfg.tbls,
 e.* 
FROM 
 pg_catalog.pg_extension e 
 join pg_namespace n on n.oid =e.extnamespace
 left join  (
         select
            ARRAY_AGG(ns.nspname || '.' ||  cls.relname) tbls, oid_ext
          from
            (
            select
                unnest(e1.extconfig) oid , e1.oid oid_ext
            from
                pg_catalog.pg_extension e1 ) c 
                join    pg_class cls on cls.oid = c.oid 
                join pg_namespace ns on ns.oid = cls.relnamespace
            group by oid_ext        
         ) cfg on cfg.oid_ext = e.oid

WHERE e.extnamespace=2200
ORDER BY e.oid
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java readDefaultPrivileges(); bind defaclnamespace=2200
-- purpose: default privileges of the schema (Permissions tab)
SELECT * FROM pg_default_acl WHERE defaclnamespace = 2200
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java readSchemaInfo(); bind nspname='public'
-- purpose: schema oid by name
SELECT s.oid as schema_id
from pg_catalog.pg_namespace s
WHERE s.nspname ='public'
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreViewBase.java getObjectDefinitionText(): "SELECT pg_get_viewdef(" + getObjectId() + ", true)" — relation oid concatenated, written as 16384
-- purpose: view / materialized view DDL (Source tab)
SELECT pg_get_viewdef(16384, true)
;

-- ==================== database-level folders (Roles, Administer, Storage, Extensions …) ====================

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java RoleCache (supportsCommentsOnRole)
-- purpose: Roles folder (also needed for object owners)
SELECT a.oid,a.*,pd.description FROM pg_catalog.pg_roles a 
left join pg_catalog.pg_shdescription pd on a.oid = pd.objoid
ORDER BY a.rolname
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java EncodingCache
-- purpose: encodings (database properties / create database dialog)
-- note: risingwavelabs/risingwave#7915 and #7925: 'pg_catalog.pg_conversion is not supported' right after connecting / 'Load users' job
SELECT c.contoencoding as encid,pg_catalog.pg_encoding_to_char(c.contoencoding) as encname
FROM pg_catalog.pg_conversion c
GROUP BY c.contoencoding
ORDER BY 2
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java getDescription(); bind datname='dev'
-- purpose: database comment
select description from pg_shdescription join pg_database on objoid = pg_database.oid where datname = 'dev'
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java AccessMethodCache
-- purpose: access methods
SELECT am.oid,am.* FROM pg_catalog.pg_am am 
ORDER BY am.oid
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java CollationCache
-- purpose: collations
SELECT c.oid,c.* FROM pg_catalog.pg_collation c 
ORDER BY c.oid
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java LanguageCache
-- purpose: languages
SELECT l.oid,l.* FROM pg_catalog.pg_language l 
ORDER BY l.oid
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java ForeignDataWrapperCache
-- purpose: FDWs
SELECT l.oid,l.*,p.pronamespace as handler_schema_id 
FROM pg_catalog.pg_foreign_data_wrapper l
LEFT OUTER JOIN pg_catalog.pg_proc p ON p.oid=l.fdwhandler 
ORDER BY l.fdwname
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java ForeignServerCache
-- purpose: foreign servers
SELECT l.oid,l.* FROM pg_catalog.pg_foreign_server l
ORDER BY l.srvname
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java TablespaceCache (supportsTablespaceLocation)
-- purpose: tablespaces (also resolved for database/table properties)
-- note: MaterializeInc/materialize#9694 lists pg_tablespace / reltablespace as required for DBeaver
SELECT t.oid,t.*,pg_tablespace_location(t.oid) loc
FROM pg_catalog.pg_tablespace t 
ORDER BY t.oid
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java AvailableExtensionCache
-- purpose: available extensions
SELECT name,default_version,installed_version,comment FROM pg_catalog.pg_available_extensions ORDER BY name
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java ExtensionCache
-- purpose: installed extensions
SELECT 
 e.oid,
 cfg.tbls,
  n.nspname as schema_name,
 e.* 
FROM 
 pg_catalog.pg_extension e 
 join pg_namespace n on n.oid =e.extnamespace
 left join  (
         select
            ARRAY_AGG(ns.nspname || '.' ||  cls.relname) tbls, oid_ext
          from
            (
            select
                unnest(e1.extconfig) oid , e1.oid oid_ext
            from
                pg_catalog.pg_extension e1 ) c 
                join    pg_class cls on cls.oid = c.oid 
                join pg_namespace ns on ns.oid = cls.relnamespace
            group by oid_ext        
         ) cfg on cfg.oid_ext = e.oid
ORDER BY e.oid
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java EventTriggersCache (all)
-- purpose: event triggers
SELECT pet.*, d.description FROM pg_catalog.pg_event_trigger pet
LEFT OUTER JOIN pg_catalog.pg_description d ON pet."oid" = d.objoid
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDataSource.java getSettings() → SettingCache (no name)
-- purpose: Administer ▸ Settings
select * from pg_catalog.pg_settings
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDataSource.java getTemplateDatabases()
-- purpose: create-database dialog
SELECT db.datname FROM pg_catalog.pg_database db WHERE datistemplate
;

-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDataSource.java collectObjectStatistics() for a single database (only for server types that support database size); bind db.oid = 16384
-- purpose: database size
-- note: the oid is the database oid (written 16384 per convention)
SELECT db.datname,pg_database_size(db.oid) FROM pg_catalog.pg_database db WHERE db.oid=16384
;
