CREATE OR REPLACE FUNCTION patrimoine_app.history_state(version bigint)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'public'
AS $function$
DECLARE
    h patrimoine_sys.history;
    state jsonb;
    tbl regclass;
    key_column text;
BEGIN
    -- A feature's whole state after one change of the history (`version`, a history id): an update's changes
    -- over the row before it (an update stores only the fields it changed); a deletion's row as it was deleted;
    -- an insertion's values: stored by earlier versions, otherwise the old values of the feature's next change,
    -- otherwise the row as it is now (log_rows records no copy of them). NULL: no such version, or an insertion
    -- whose row was since removed without a trace (TRUNCATE).
    SELECT * INTO h FROM patrimoine_sys.history WHERE id = version;
    IF NOT FOUND THEN
        RETURN NULL;
    ELSIF h.operation = 'UPDATE' THEN
        RETURN h.old_values || h.new_values;
    ELSIF h.operation = 'DELETE' OR h.new_values IS NOT NULL THEN
        RETURN coalesce(h.new_values, h.old_values);
    END IF;
    SELECT n.old_values INTO state FROM patrimoine_sys.history n
    WHERE n.layer = h.layer AND n.feature_id = h.feature_id AND n.id > h.id
    ORDER BY n.id LIMIT 1;
    IF FOUND THEN
        RETURN state;
    END IF;
    tbl := to_regclass(format('patrimoine.%I', h.layer));
    SELECT convert_from(substring(tgargs FROM 1 FOR position('\x00'::bytea IN tgargs) - 1), 'UTF8')
    INTO key_column FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'log_insert';  -- the key log_rows was given
    IF key_column IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT %s FROM %s x WHERE x.%I::text = $1', patrimoine_app.row_json_sql(tbl, 'x'), tbl, key_column)
        INTO state USING h.feature_id;
    RETURN state;
END
$function$;
