CREATE OR REPLACE FUNCTION patrimoine_app.to_date(value text)
 RETURNS date
 LANGUAGE plpgsql
 IMMUTABLE PARALLEL SAFE
AS $function$
DECLARE
    m text[];
BEGIN
    m := regexp_match(value, '^\s*(\d{4})[-/](\d{1,2})[-/](\d{1,2})([T ].*)?$');
    IF m IS NULL THEN
        m := regexp_match(value, '^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$');
        IF m IS NULL THEN
            RETURN NULL;
        END IF;
        m := ARRAY[m[3], m[2], m[1]];
    END IF;
    IF m[2]::int NOT BETWEEN 1 AND 12 OR m[3]::int NOT BETWEEN 1 AND 31 THEN
        RETURN NULL;
    END IF;
    IF extract(day FROM (make_date(m[1]::int, m[2]::int, 1) + interval '1 month - 1 day')) < m[3]::int THEN
        RETURN NULL;
    END IF;
    RETURN make_date(m[1]::int, m[2]::int, m[3]::int);
END
$function$;
