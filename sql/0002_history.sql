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

-- patrimoine_app.bump_version(): sql/app/bump_version.sql (the application schema, rebuilt at every db init)

CREATE EXTENSION IF NOT EXISTS hstore SCHEMA public;

-- BEFORE UPDATE, per row: an update that changes nothing is dropped (no history noise, no version bump);
-- otherwise the audit columns are set whatever the client sent. TG_ARGV lists the generated columns, which
-- are not yet computed in NEW at this point and so must not be compared. hstore compares the columns' text
-- forms (hex EWKB for geometries: exact, and much cheaper than JSON).
-- patrimoine_app.touch_row(): sql/app/touch_row.sql (the application schema, rebuilt at every db init)

-- The SQL expression of a row of `tbl` (aliased `alias`) as jsonb: typed values, geometry as hex EWKB.
-- Built from the catalog, so that history triggers never go through the geometry → GeoJSON cast.
-- patrimoine_app.row_json_sql(): sql/app/row_json_sql.sql (the application schema, rebuilt at every db init)

-- patrimoine_app.uuid_sql(): sql/app/uuid_sql.sql (the application schema, rebuilt at every db init)

-- AFTER, per statement. TG_ARGV[0] is the key column. One set-based INSERT per statement.
-- patrimoine_app.log_insert(): sql/app/log_insert.sql (the application schema, rebuilt at every db init)

-- patrimoine_app.log_update(): sql/app/log_update.sql (the application schema, rebuilt at every db init)

-- patrimoine_app.log_delete(): sql/app/log_delete.sql (the application schema, rebuilt at every db init)

-- patrimoine_app.log_truncate(): sql/app/log_truncate.sql (the application schema, rebuilt at every db init)

-- Attach the same four triggers to every layer table.
-- patrimoine_app.attach_history(): sql/app/attach_history.sql (the application schema, rebuilt at every db init)

DO $$
BEGIN
    PERFORM patrimoine_app.attach_history('commune', 'insee');
    PERFORM patrimoine_app.attach_history(t, 'id')
    FROM unnest(ARRAY['depot', 'road', 'street_light', 'green_space', 'building']) t;
END
$$;
