CREATE OR REPLACE FUNCTION patrimoine_app.to_bigint(value text)
 RETURNS bigint
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
    SELECT CASE WHEN value ~ '^\s*[+-]?\d{1,18}(\.0*)?\s*$' THEN round(btrim(value)::numeric)::bigint END
$function$;
