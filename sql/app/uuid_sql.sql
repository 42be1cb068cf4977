CREATE OR REPLACE FUNCTION patrimoine_app.uuid_sql(tbl regclass, alias text)
 RETURNS text
 LANGUAGE sql
 STABLE
AS $function$
    SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = 'uuid'
                             AND NOT attisdropped)
                THEN format('%I.uuid', alias) ELSE 'NULL::uuid' END
$function$;
