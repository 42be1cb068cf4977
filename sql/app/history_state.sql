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
    key_type text;
BEGIN
    -- A feature's whole state after one change of the history (`version`, a history id): an update's changes
    -- over the row before it (an update stores only the fields it changed); a deletion's row as it was deleted;
    -- an insertion's values: stored by earlier versions, otherwise the old values of the feature's next change,
    -- otherwise the row as it is now (log_rows records no copy of them). NULL: no such version, or an insertion
    -- whose row has gone without a trace (its key changed).
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
    -- the key log_rows was given, and its type: the feature is found through the key's index, not a scan
    SELECT a.attname, format_type(a.atttypid, a.atttypmod) INTO key_column, key_type
    FROM pg_trigger t
    JOIN pg_attribute a ON a.attrelid = t.tgrelid AND NOT a.attisdropped
     AND a.attname = convert_from(substring(t.tgargs FROM 1 FOR nullif(position('\x00'::bytea IN t.tgargs), 0) - 1),
                                  'UTF8')
    WHERE t.tgrelid = tbl AND t.tgname = 'log_insert';
    IF key_column IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT %s FROM %s x WHERE x.%I = $1::%s', patrimoine_app.row_json_sql(tbl, 'x'), tbl, key_column,
                   key_type)
        INTO state USING h.feature_id;
    RETURN state;
END
$function$;
