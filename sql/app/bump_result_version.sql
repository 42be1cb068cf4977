CREATE OR REPLACE FUNCTION patrimoine_app.bump_result_version()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM patrimoine_app.bump_version(TG_TABLE_NAME);
    RETURN NULL;
END
$function$;
