-- gis-patrimoine 0010: roles and rights for direct database clients (QGIS, psql).
-- depends: 0009_zones
--
-- Four group roles (cluster-wide, created once): gp_reader sees everything (pooling needs transparency),
-- gp_editor may write the assets of the communes it is assigned to in patrimoine_sys.user_commune, gp_manager
-- writes every commune (the agglomération), gp_admin also owns the schema's evolution. Logins are members of
-- one of them (`gis-patrimoine users create`). Row-level security checks inserted rows; a statement-level
-- trigger refuses, with a message naming user and commune, any update or delete that touches another commune's
-- rows (or moves one there) — so QGIS reports the error and nothing is written, whatever the client.

DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['gp_reader', 'gp_editor', 'gp_manager', 'gp_admin'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$$;
GRANT gp_reader TO gp_editor;
GRANT gp_editor TO gp_manager;
GRANT gp_manager TO gp_admin;

CREATE TABLE patrimoine_sys.user_commune (
    username       text NOT NULL,
    commune_insee  text NOT NULL REFERENCES patrimoine.commune (insee) ON UPDATE CASCADE ON DELETE CASCADE,
    PRIMARY KEY (username, commune_insee)
);

GRANT USAGE ON SCHEMA patrimoine, patrimoine_vl, patrimoine_sys, analysis TO gp_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA patrimoine, patrimoine_vl, analysis TO gp_reader;
GRANT SELECT ON patrimoine_sys.history, patrimoine_sys.data_version, patrimoine_sys.setting,
    patrimoine_sys.import_job, patrimoine_sys.user_commune TO gp_reader;
GRANT INSERT, UPDATE, DELETE ON patrimoine.road, patrimoine.street_light, patrimoine.green_space,
    patrimoine.building, patrimoine.depot TO gp_editor;
GRANT INSERT, UPDATE, DELETE ON patrimoine.commune, patrimoine.depot_equipment TO gp_manager;
GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA analysis TO gp_admin;
GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA patrimoine_vl TO gp_admin;
GRANT INSERT, UPDATE, DELETE ON patrimoine_sys.user_commune TO gp_admin;

-- Whether the current login may write everywhere: superusers, the schema's owner, managers and admins.
-- patrimoine_app.writes_everywhere(): sql/app/writes_everywhere.sql (the application schema, rebuilt at every db init)

-- patrimoine_app.may_edit(): sql/app/may_edit.sql (the application schema, rebuilt at every db init)

-- AFTER UPDATE/DELETE, per statement: rows taken from (or moved into) a commune the login may not edit abort
-- the statement, with a message naming the login and the commune.
-- patrimoine_app.check_communes(): sql/app/check_communes.sql (the application schema, rebuilt at every db init)

SELECT patrimoine_app.attach_rights(t) FROM unnest(ARRAY['road', 'street_light', 'green_space', 'building', 'depot']) t;

ALTER DEFAULT PRIVILEGES IN SCHEMA patrimoine, patrimoine_vl, analysis GRANT SELECT ON TABLES TO gp_reader;
