CREATE OR REPLACE FUNCTION patrimoine_app.log_truncate_rows()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
BEGIN
    -- BEFORE TRUNCATE: the rows are recorded as deleted, with their values, before they go (TRUNCATE fires no
    -- DELETE trigger), so that every row's last values stay in the history; an insertion stores none of its
    -- own (log_rows, history_state)
    EXECUTE format(
        'INSERT INTO patrimoine_sys.history (layer, feature_id, feature_uuid, operation, old_values)
         SELECT %L, r.%I::text, %s, ''DELETE'', %s FROM %s r',
        TG_TABLE_NAME, TG_ARGV[0], patrimoine_app.uuid_sql(TG_RELID, 'r'),
        patrimoine_app.row_json_sql(TG_RELID, 'r'), TG_RELID::regclass);
    RETURN NULL;
END
$function$;
