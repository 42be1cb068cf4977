CREATE OR REPLACE FUNCTION patrimoine_app.writes_everywhere()
 RETURNS boolean
 LANGUAGE sql
 STABLE
AS $function$
    SELECT current_setting('is_superuser') = 'on'
        OR pg_has_role(current_user, 'gp_manager', 'MEMBER')
        OR current_user = (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'patrimoine.road'::regclass)
$function$;
