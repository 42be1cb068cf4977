CREATE OR REPLACE FUNCTION patrimoine_app.may_edit(commune text)
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog'
AS $function$  -- not SECURITY DEFINER: current_user must stay the login
    SELECT patrimoine_app.writes_everywhere()
        OR EXISTS (SELECT 1 FROM patrimoine_sys.user_commune u
                   WHERE u.username = current_user AND u.commune_insee = commune)
$function$;
