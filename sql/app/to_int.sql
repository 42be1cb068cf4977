CREATE OR REPLACE FUNCTION patrimoine_app.to_int(value text)
 RETURNS integer
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
    SELECT CASE WHEN value ~ '^\s*[+-]?\d{1,9}(\.0*)?\s*$' THEN round(btrim(value)::numeric)::integer END
$function$;
