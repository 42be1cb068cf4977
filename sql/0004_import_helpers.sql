-- gis-patrimoine 0004: lenient parsers used by the importer's set-based SQL (NULL when a value does not parse).
-- depends: 0003_import_journal

-- Integers: "42", " 42 ", "42.0", "+42".
CREATE FUNCTION patrimoine_app.to_int(value text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN value ~ '^\s*[+-]?\d{1,9}(\.0*)?\s*$' THEN round(btrim(value)::numeric)::integer END
$$;

CREATE FUNCTION patrimoine_app.to_bigint(value text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN value ~ '^\s*[+-]?\d{1,18}(\.0*)?\s*$' THEN round(btrim(value)::numeric)::bigint END
$$;

-- Reals, with a decimal point or a French decimal comma: "3.5", "3,5", "1e3".
CREATE FUNCTION patrimoine_app.to_real(value text) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN value ~ '^\s*[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d{1,3})?\s*$'
                THEN replace(btrim(value), ',', '.')::double precision END
$$;

-- Dates: ISO (2024-03-31, optionally followed by a time) or French (31/03/2024); NULL for impossible dates.
CREATE FUNCTION patrimoine_app.to_date(value text) RETURNS date
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
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
$$;

-- OSM "other_tags" as written by GDAL: "k"=>"v","k2"=>"v2" (quotes inside values escaped with \).
CREATE FUNCTION patrimoine_app.hstore_to_jsonb(value text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(replace(m[1], '\"', '"'), replace(m[2], '\"', '"')), '{}'::jsonb)
    FROM regexp_matches(value, '"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"', 'g') AS m
$$;
