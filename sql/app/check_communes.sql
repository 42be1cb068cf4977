CREATE OR REPLACE FUNCTION patrimoine_app.check_communes()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE
    denied text;
BEGIN
    IF patrimoine_app.writes_everywhere() THEN
        RETURN NULL;
    END IF;
    SELECT coalesce(commune_insee, 'agglomération') INTO denied FROM old_rows
    WHERE NOT patrimoine_app.may_edit(commune_insee) LIMIT 1;
    IF denied IS NULL AND TG_OP = 'UPDATE' THEN
        EXECUTE 'SELECT coalesce(commune_insee, ''agglomération'') FROM new_rows '
                'WHERE NOT patrimoine_app.may_edit(commune_insee) LIMIT 1'
            INTO denied;
    END IF;
    IF denied IS NOT NULL THEN
        RAISE EXCEPTION 'user % may not % % of commune % (%): not among the communes assigned to them',
            current_user, lower(TG_OP),
            CASE WHEN TG_TABLE_NAME IN ('staff', 'equipment', 'depot_cost', 'contract', 'purchase')
                 THEN 'the diagnostic answers' ELSE 'assets' END,
            denied, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'an agglomération manager can assign it: gis-patrimoine users create LOGIN --commune INSEE';
    END IF;
    RETURN NULL;
END
$function$;
