CREATE OR REPLACE FUNCTION patrimoine_app.bump_version(layer_name text)
 RETURNS void
 LANGUAGE sql
AS $function$
    UPDATE patrimoine_sys.data_version SET version = version + 1, changed_at = now() WHERE layer = layer_name;
    SELECT pg_notify('gis_patrimoine_data', layer_name);
$function$;
