-- gis-patrimoine 0002: history of every change, audit columns, per-layer data versions.
-- depends: 0001_foundation
--
-- Triggers live in the database so that every writer (API, importer, QGIS, psql) is recorded the same way.
-- History triggers are statement-level with transition tables: a bulk import of a million rows writes its
-- history in one set-based INSERT instead of a million trigger calls.

CREATE TABLE patrimoine_sys.history (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    layer          text NOT NULL,
    feature_id     text NOT NULL,
    feature_uuid   uuid,
    operation      text NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')),
    old_values     jsonb,
    new_values     jsonb,
    changed_fields text[],
    db_user        text NOT NULL DEFAULT session_user,  -- the login (triggers run as their owner)
    app_user       text DEFAULT nullif(current_setting('gis_patrimoine.user', true), ''),
    import_job_id  bigint DEFAULT nullif(current_setting('gis_patrimoine.import_job', true), '')::bigint,
    txid           bigint NOT NULL DEFAULT txid_current(),
    changed_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX history_feature_idx ON patrimoine_sys.history (layer, feature_id, id);
COMMENT ON TABLE patrimoine_sys.history IS
    'Every insert, update and delete on communes, depots and asset layers; geometries as hex EWKB (exact)';

-- A version number per layer, bumped in the same transaction as the change; tile caches key on it.
CREATE TABLE patrimoine_sys.data_version (
    layer      text PRIMARY KEY,
    version    bigint NOT NULL DEFAULT 0,
    changed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO patrimoine_sys.data_version (layer)
VALUES ('commune'), ('depot'), ('road'), ('street_light'), ('green_space'), ('building');

CREATE FUNCTION patrimoine_app.bump_version(layer_name text) RETURNS void
LANGUAGE sql AS $$
    UPDATE patrimoine_sys.data_version SET version = version + 1, changed_at = now() WHERE layer = layer_name;
    SELECT pg_notify('gis_patrimoine_data', layer_name);
$$;

CREATE EXTENSION IF NOT EXISTS hstore SCHEMA public;

-- BEFORE UPDATE, per row: an update that changes nothing is dropped (no history noise, no version bump);
-- otherwise the audit columns are set whatever the client sent. TG_ARGV lists the generated columns, which
-- are not yet computed in NEW at this point and so must not be compared. hstore compares the columns' text
-- forms (hex EWKB for geometries: exact, and much cheaper than JSON).
CREATE FUNCTION patrimoine_app.touch_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF public.hstore(NEW) - TG_ARGV - ARRAY['updated_at', 'updated_by']
       = public.hstore(OLD) - TG_ARGV - ARRAY['updated_at', 'updated_by'] THEN
        RETURN NULL;
    END IF;
    NEW.updated_at := now();
    NEW.updated_by := patrimoine_app.actor();
    NEW.created_at := OLD.created_at;
    RETURN NEW;
END
$$;

-- The SQL expression of a row of `tbl` (aliased `alias`) as jsonb: typed values, geometry as hex EWKB.
-- Built from the catalog, so that history triggers never go through the geometry → GeoJSON cast.
CREATE FUNCTION patrimoine_app.row_json_sql(tbl regclass, alias text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT 'jsonb_build_object(' || string_agg(
               format('%L, %I.%I%s', attname, alias, attname,
                      CASE WHEN atttypid = 'public.geometry'::regtype THEN '::text' ELSE '' END),
               ', ' ORDER BY attnum) || ')'
    FROM pg_attribute
    WHERE attrelid = tbl AND attnum > 0 AND NOT attisdropped
$$;

CREATE FUNCTION patrimoine_app.uuid_sql(tbl regclass, alias text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = 'uuid'
                             AND NOT attisdropped)
                THEN format('%I.uuid', alias) ELSE 'NULL::uuid' END
$$;

-- AFTER, per statement. TG_ARGV[0] is the key column. One set-based INSERT per statement.
CREATE FUNCTION patrimoine_app.log_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    n_rows bigint;
BEGIN
    EXECUTE format(
        'INSERT INTO patrimoine_sys.history (layer, feature_id, feature_uuid, operation, new_values)
         SELECT %L, n.%I::text, %s, ''INSERT'', %s FROM new_rows n',
        TG_TABLE_NAME, TG_ARGV[0], patrimoine_app.uuid_sql(TG_RELID, 'n'),
        patrimoine_app.row_json_sql(TG_RELID, 'n'));
    GET DIAGNOSTICS n_rows = ROW_COUNT;
    IF n_rows > 0 THEN
        PERFORM patrimoine_app.bump_version(TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION patrimoine_app.log_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    n_rows bigint;
BEGIN
    EXECUTE format(
        'INSERT INTO patrimoine_sys.history (layer, feature_id, feature_uuid, operation, old_values, new_values,
                                             changed_fields)
         SELECT %1$L, c.key, c.uuid, ''UPDATE'', c.o, c.changes, c.fields
         FROM (
             SELECT n.%2$I::text AS key, %3$s AS uuid, o.j AS o,
                    (SELECT jsonb_object_agg(k, n.j -> k) FROM unnest(d.fields) k) AS changes, d.fields
             FROM (SELECT x.%2$I, %4$s AS j FROM new_rows x) n
             JOIN (SELECT x.%2$I, %5$s AS j FROM old_rows x) o USING (%2$I)
             CROSS JOIN LATERAL (
                 SELECT array_agg(k ORDER BY k) AS fields FROM jsonb_object_keys(n.j) k
                 WHERE n.j -> k IS DISTINCT FROM o.j -> k AND k NOT IN (''updated_at'', ''updated_by'')
             ) d
             WHERE d.fields IS NOT NULL
         ) c',
        TG_TABLE_NAME, TG_ARGV[0], CASE WHEN patrimoine_app.uuid_sql(TG_RELID, 'n') = 'NULL::uuid'
                                        THEN 'NULL::uuid' ELSE '(n.j ->> ''uuid'')::uuid' END,
        patrimoine_app.row_json_sql(TG_RELID, 'x'), patrimoine_app.row_json_sql(TG_RELID, 'x'));
    GET DIAGNOSTICS n_rows = ROW_COUNT;
    IF n_rows > 0 THEN
        PERFORM patrimoine_app.bump_version(TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION patrimoine_app.log_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    n_rows bigint;
BEGIN
    EXECUTE format(
        'INSERT INTO patrimoine_sys.history (layer, feature_id, feature_uuid, operation, old_values)
         SELECT %L, o.%I::text, %s, ''DELETE'', %s FROM old_rows o',
        TG_TABLE_NAME, TG_ARGV[0], patrimoine_app.uuid_sql(TG_RELID, 'o'),
        patrimoine_app.row_json_sql(TG_RELID, 'o'));
    GET DIAGNOSTICS n_rows = ROW_COUNT;
    IF n_rows > 0 THEN
        PERFORM patrimoine_app.bump_version(TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION patrimoine_app.log_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM patrimoine_app.bump_version(TG_TABLE_NAME);
    RETURN NULL;
END
$$;

-- Attach the same four triggers to every layer table.
CREATE FUNCTION patrimoine_app.attach_history(tbl text, key_column text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    generated text;
BEGIN
    SELECT string_agg(quote_literal(attname), ', ') INTO generated
    FROM pg_attribute
    WHERE attrelid = format('patrimoine.%I', tbl)::regclass AND attgenerated = 's' AND NOT attisdropped;
    EXECUTE format('CREATE TRIGGER touch_row BEFORE UPDATE ON patrimoine.%I
                    FOR EACH ROW EXECUTE FUNCTION patrimoine_app.touch_row(%s)', tbl, coalesce(generated, ''));
    EXECUTE format('CREATE TRIGGER log_insert AFTER INSERT ON patrimoine.%I REFERENCING NEW TABLE AS new_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION patrimoine_app.log_insert(%L)', tbl, key_column);
    EXECUTE format('CREATE TRIGGER log_update AFTER UPDATE ON patrimoine.%I
                    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION patrimoine_app.log_update(%L)', tbl, key_column);
    EXECUTE format('CREATE TRIGGER log_delete AFTER DELETE ON patrimoine.%I REFERENCING OLD TABLE AS old_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION patrimoine_app.log_delete(%L)', tbl, key_column);
    EXECUTE format('CREATE TRIGGER log_truncate AFTER TRUNCATE ON patrimoine.%I
                    FOR EACH STATEMENT EXECUTE FUNCTION patrimoine_app.log_truncate()', tbl);
END
$$;

DO $$
BEGIN
    PERFORM patrimoine_app.attach_history('commune', 'insee');
    PERFORM patrimoine_app.attach_history(t, 'id')
    FROM unnest(ARRAY['depot', 'road', 'street_light', 'green_space', 'building']) t;
END
$$;
