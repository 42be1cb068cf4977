CREATE OR REPLACE FUNCTION patrimoine_app.to_real(value text)
 RETURNS double precision
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
    SELECT CASE WHEN value ~ '^\s*[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d{1,3})?\s*$'
                THEN replace(btrim(value), ',', '.')::double precision END
$function$;
