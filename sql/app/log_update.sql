CREATE OR REPLACE FUNCTION patrimoine_app.log_update()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
DECLARE
    n_rows bigint;
BEGIN
    EXECUTE format(
        'INSERT INTO patrimoine_sys.history (layer, feature_id, feature_uuid, operation, old_values, new_values,
                                             changed_fields)
         SELECT %1$L, c.key, c.uuid, ''UPDATE'', c.o, c.changes, c.fields
         FROM (
             SELECT n.%2$I::text AS key, %3$s AS uuid, o.j AS o,
                    (SELECT jsonb_object_agg(k, n.j -> k) FROM unnest(d.fields) k) AS changes, d.fields
             FROM (SELECT x.%2$I, %4$s AS j FROM new_rows x) n
             JOIN (SELECT x.%2$I, %5$s AS j FROM old_rows x) o USING (%2$I)
             CROSS JOIN LATERAL (
                 SELECT array_agg(k ORDER BY k) AS fields FROM jsonb_object_keys(n.j) k
                 WHERE n.j -> k IS DISTINCT FROM o.j -> k AND k NOT IN (''updated_at'', ''updated_by'')
             ) d
             WHERE d.fields IS NOT NULL
         ) c',
        TG_TABLE_NAME, TG_ARGV[0], CASE WHEN patrimoine_app.uuid_sql(TG_RELID, 'n') = 'NULL::uuid'
                                        THEN 'NULL::uuid' ELSE '(n.j ->> ''uuid'')::uuid' END,
        patrimoine_app.row_json_sql(TG_RELID, 'x'), patrimoine_app.row_json_sql(TG_RELID, 'x'));
    GET DIAGNOSTICS n_rows = ROW_COUNT;
    IF n_rows > 0 THEN
        PERFORM patrimoine_app.bump_version(TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END
$function$;
