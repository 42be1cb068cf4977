CREATE OR REPLACE FUNCTION patrimoine_app.log_rows()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
DECLARE
    n_rows bigint;
BEGIN
    -- an insertion is recorded without a copy of its values (pgMemento's way): they are the row itself until
    -- its next change, which records them as its old values (history_state); a deletion keeps the old values
    IF TG_OP = 'INSERT' THEN
        EXECUTE format(
            'INSERT INTO patrimoine_sys.history (layer, feature_id, feature_uuid, operation)
             SELECT %L, r.%I::text, %s, ''INSERT'' FROM new_rows r',
            TG_TABLE_NAME, TG_ARGV[0], patrimoine_app.uuid_sql(TG_RELID, 'r'));
    ELSE  -- a deletion; or, BEFORE a TRUNCATE (which fires no delete trigger), every row of the table
        EXECUTE format(
            'INSERT INTO patrimoine_sys.history (layer, feature_id, feature_uuid, operation, old_values)
             SELECT %L, r.%I::text, %s, ''DELETE'', %s FROM %s r',
            TG_TABLE_NAME, TG_ARGV[0], patrimoine_app.uuid_sql(TG_RELID, 'r'),
            patrimoine_app.row_json_sql(TG_RELID, 'r'),
            CASE WHEN TG_OP = 'TRUNCATE' THEN TG_RELID::regclass::text ELSE 'old_rows' END);
    END IF;
    GET DIAGNOSTICS n_rows = ROW_COUNT;
    IF n_rows > 0 THEN
        PERFORM patrimoine_app.bump_version(TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END
$function$;
