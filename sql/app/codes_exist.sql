CREATE OR REPLACE FUNCTION patrimoine_app.codes_exist(list text, codes text[])
 RETURNS boolean
 LANGUAGE plpgsql
 STABLE
AS $function$
DECLARE
    missing integer;
BEGIN
    EXECUTE format('SELECT count(*) FROM unnest($1) c WHERE NOT EXISTS
                    (SELECT 1 FROM patrimoine_vl.%I v WHERE v.code = c)', list)
        INTO missing USING codes;
    RETURN missing = 0;
END
$function$;
