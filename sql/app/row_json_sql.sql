CREATE OR REPLACE FUNCTION patrimoine_app.row_json_sql(tbl regclass, alias text)
 RETURNS text
 LANGUAGE sql
 STABLE
AS $function$
    SELECT 'jsonb_build_object(' || string_agg(
               format('%L, %I.%I%s', attname, alias, attname,
                      CASE WHEN atttypid = 'public.geometry'::regtype THEN '::text' ELSE '' END),
               ', ' ORDER BY attnum) || ')'
    FROM pg_attribute
    WHERE attrelid = tbl AND attnum > 0 AND NOT attisdropped
$function$;
