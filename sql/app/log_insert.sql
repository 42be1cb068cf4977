CREATE OR REPLACE FUNCTION patrimoine_app.log_insert()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
DECLARE
    n_rows bigint;
BEGIN
    EXECUTE format(
        'INSERT INTO patrimoine_sys.history (layer, feature_id, feature_uuid, operation, new_values)
         SELECT %L, n.%I::text, %s, ''INSERT'', %s FROM new_rows n',
        TG_TABLE_NAME, TG_ARGV[0], patrimoine_app.uuid_sql(TG_RELID, 'n'),
        patrimoine_app.row_json_sql(TG_RELID, 'n'));
    GET DIAGNOSTICS n_rows = ROW_COUNT;
    IF n_rows > 0 THEN
        PERFORM patrimoine_app.bump_version(TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END
$function$;
