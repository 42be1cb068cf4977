CREATE OR REPLACE FUNCTION patrimoine_app.log_rows()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
DECLARE
    n_rows bigint;
    inserted boolean := TG_OP = 'INSERT';
BEGIN
    -- inserted rows keep their new values, deleted ones their old values; the same statement for both
    EXECUTE format(
        'INSERT INTO patrimoine_sys.history (layer, feature_id, feature_uuid, operation, %s)
         SELECT %L, r.%I::text, %s, %L, %s FROM %I r',
        CASE WHEN inserted THEN 'new_values' ELSE 'old_values' END,
        TG_TABLE_NAME, TG_ARGV[0], patrimoine_app.uuid_sql(TG_RELID, 'r'), TG_OP,
        patrimoine_app.row_json_sql(TG_RELID, 'r'), CASE WHEN inserted THEN 'new_rows' ELSE 'old_rows' END);
    GET DIAGNOSTICS n_rows = ROW_COUNT;
    IF n_rows > 0 THEN
        PERFORM patrimoine_app.bump_version(TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END
$function$;
