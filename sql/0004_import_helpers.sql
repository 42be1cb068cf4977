-- gis-patrimoine 0004: lenient parsers used by the importer's set-based SQL (NULL when a value does not parse).
-- depends: 0003_import_journal

-- Integers: "42", " 42 ", "42.0", "+42".
-- patrimoine_app.to_int(): sql/app/to_int.sql (the application schema, rebuilt at every db init)

-- patrimoine_app.to_bigint(): sql/app/to_bigint.sql (the application schema, rebuilt at every db init)

-- Reals, with a decimal point or a French decimal comma: "3.5", "3,5", "1e3".
-- patrimoine_app.to_real(): sql/app/to_real.sql (the application schema, rebuilt at every db init)

-- Dates: ISO (2024-03-31, optionally followed by a time) or French (31/03/2024); NULL for impossible dates.
-- patrimoine_app.to_date(): sql/app/to_date.sql (the application schema, rebuilt at every db init)

-- OSM "other_tags" as written by GDAL: "k"=>"v","k2"=>"v2" (quotes inside values escaped with \).
-- patrimoine_app.hstore_to_jsonb(): sql/app/hstore_to_jsonb.sql (the application schema, rebuilt at every db init)
