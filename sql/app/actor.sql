CREATE OR REPLACE FUNCTION patrimoine_app.actor()
 RETURNS text
 LANGUAGE sql
 STABLE
AS $function$
    SELECT coalesce(nullif(current_setting('gis_patrimoine.user', true), ''), current_user::text)
$function$;
