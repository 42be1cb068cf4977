CREATE OR REPLACE FUNCTION patrimoine_app.hstore_to_jsonb(value text)
 RETURNS jsonb
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
    SELECT coalesce(jsonb_object_agg(replace(m[1], '\"', '"'), replace(m[2], '\"', '"')), '{}'::jsonb)
    FROM regexp_matches(value, '"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"', 'g') AS m
$function$;
