-- gis-patrimoine 0001: schemas, value lists, communes, depots and asset layers.
-- Rendered with the storage SRID chosen at `db init` ({{srid}}); columns must match layers/*.yaml
-- (tests/test_catalogue_schema.py checks it column by column).

CREATE EXTENSION IF NOT EXISTS postgis SCHEMA public;

CREATE SCHEMA IF NOT EXISTS patrimoine;      -- the data
CREATE SCHEMA IF NOT EXISTS patrimoine_vl;   -- value lists (code lists), synchronised from layers/codelists.yaml
CREATE SCHEMA IF NOT EXISTS patrimoine_sys;  -- settings, history, journal, data versions
CREATE SCHEMA IF NOT EXISTS patrimoine_app;  -- functions and triggers (rebuildable)

COMMENT ON SCHEMA patrimoine IS 'gis-patrimoine: public-space assets per commune';
-- Triggers and checks call these functions on behalf of whoever writes (QGIS users included).
GRANT USAGE ON SCHEMA patrimoine_app TO PUBLIC;

CREATE TABLE patrimoine_sys.setting (
    key   text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO patrimoine_sys.setting (key, value) VALUES ('srid', '{{srid}}');

-- One table per code list: FKs stay natural and QGIS can use them as value relations.
SELECT patrimoine_app.create_value_list(l)
FROM unnest(ARRAY['service', 'condition', 'road_class', 'surface', 'oneway', 'lamp_type', 'green_space_kind',
                  'building_use', 'equipment_type']) l;

-- Whether every element of `codes` is a code of value list `list` (for array columns, which FKs cannot cover).
-- patrimoine_app.codes_exist(): sql/app/codes_exist.sql (the application schema, rebuilt at every db init)

-- Audit default: the API user when the API set one, else the database user (QGIS, psql, importer).
-- patrimoine_app.actor(): sql/app/actor.sql (the application schema, rebuilt at every db init)

CREATE TABLE patrimoine.commune (
    insee           text PRIMARY KEY CONSTRAINT commune_insee_format CHECK (insee ~ '^[0-9A-Za-z_-]{1,16}$'),
    name            text NOT NULL CONSTRAINT commune_name_not_blank CHECK (btrim(name) <> ''),
    population      integer CONSTRAINT commune_population_range CHECK (population >= 0),
    population_year integer CONSTRAINT commune_population_year_range CHECK (population_year BETWEEN 1800 AND 2100),
    area_m2         double precision GENERATED ALWAYS AS (ST_Area(geom)) STORED,
    extra           jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    updated_by      text NOT NULL DEFAULT patrimoine_app.actor(),
    geom            geometry(MultiPolygon, {{srid}}) NOT NULL,
    CONSTRAINT commune_geom_valid CHECK (ST_IsValid(geom)),
    CONSTRAINT commune_geom_not_empty CHECK (NOT ST_IsEmpty(geom))
);
CREATE INDEX commune_geom_idx ON patrimoine.commune USING gist (geom);

CREATE TABLE patrimoine.depot (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid              uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    commune_insee     text NOT NULL REFERENCES patrimoine.commune (insee) ON UPDATE CASCADE,
    source            text NOT NULL,
    source_id         text NOT NULL,
    condition         text REFERENCES patrimoine_vl.condition (code),
    installed_year    integer CONSTRAINT depot_installed_year_range CHECK (installed_year BETWEEN 1800 AND 2100),
    last_intervention date,
    extra             jsonb NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    updated_by        text NOT NULL DEFAULT patrimoine_app.actor(),
    name              text NOT NULL,
    services          text[] NOT NULL CONSTRAINT depot_services_known
                          CHECK (patrimoine_app.codes_exist('service', services)),
    crews             integer NOT NULL DEFAULT 1 CONSTRAINT depot_crews_range CHECK (crews BETWEEN 0 AND 200),
    staff             integer CONSTRAINT depot_staff_range CHECK (staff BETWEEN 0 AND 2000),
    geom              geometry(Point, {{srid}}) NOT NULL,
    CONSTRAINT depot_source_key UNIQUE (source, source_id),
    CONSTRAINT depot_geom_valid CHECK (ST_IsValid(geom)),
    CONSTRAINT depot_geom_not_empty CHECK (NOT ST_IsEmpty(geom))
);

-- Equipment each depot holds (mowers, aerial platforms, sweepers, vans), for pooling of equipment.
CREATE TABLE patrimoine.depot_equipment (
    depot_id       bigint NOT NULL REFERENCES patrimoine.depot (id) ON DELETE CASCADE,
    equipment_type text NOT NULL REFERENCES patrimoine_vl.equipment_type (code),
    quantity       integer NOT NULL CONSTRAINT depot_equipment_quantity_range CHECK (quantity > 0),
    PRIMARY KEY (depot_id, equipment_type)
);

CREATE TABLE patrimoine.road (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid              uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    commune_insee     text NOT NULL REFERENCES patrimoine.commune (insee) ON UPDATE CASCADE,
    source            text NOT NULL,
    source_id         text NOT NULL,
    condition         text REFERENCES patrimoine_vl.condition (code),
    installed_year    integer CONSTRAINT road_installed_year_range CHECK (installed_year BETWEEN 1800 AND 2100),
    last_intervention date,
    extra             jsonb NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    updated_by        text NOT NULL DEFAULT patrimoine_app.actor(),
    name              text,
    road_class        text NOT NULL REFERENCES patrimoine_vl.road_class (code),
    surface           text REFERENCES patrimoine_vl.surface (code),
    width_m           double precision CONSTRAINT road_width_m_range CHECK (width_m BETWEEN 0.5 AND 100),
    speed_kmh         integer CONSTRAINT road_speed_kmh_range CHECK (speed_kmh BETWEEN 5 AND 130),
    oneway            text NOT NULL DEFAULT 'no' REFERENCES patrimoine_vl.oneway (code),
    length_m          double precision GENERATED ALWAYS AS (ST_Length(geom)) STORED,
    geom              geometry(LineString, {{srid}}) NOT NULL,
    CONSTRAINT road_source_key UNIQUE (source, source_id),
    CONSTRAINT road_geom_valid CHECK (ST_IsValid(geom)),
    CONSTRAINT road_geom_not_empty CHECK (NOT ST_IsEmpty(geom))
);

CREATE TABLE patrimoine.street_light (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid              uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    commune_insee     text NOT NULL REFERENCES patrimoine.commune (insee) ON UPDATE CASCADE,
    source            text NOT NULL,
    source_id         text NOT NULL,
    condition         text REFERENCES patrimoine_vl.condition (code),
    installed_year    integer CONSTRAINT street_light_installed_year_range
                          CHECK (installed_year BETWEEN 1800 AND 2100),
    last_intervention date,
    extra             jsonb NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    updated_by        text NOT NULL DEFAULT patrimoine_app.actor(),
    lamp_type         text NOT NULL REFERENCES patrimoine_vl.lamp_type (code),
    power_w           integer CONSTRAINT street_light_power_w_range CHECK (power_w BETWEEN 1 AND 2000),
    mast_height_m     double precision CONSTRAINT street_light_mast_height_m_range
                          CHECK (mast_height_m BETWEEN 0.5 AND 40),
    road_id           bigint REFERENCES patrimoine.road (id) ON DELETE SET NULL,
    geom              geometry(Point, {{srid}}) NOT NULL,
    CONSTRAINT street_light_source_key UNIQUE (source, source_id),
    CONSTRAINT street_light_geom_valid CHECK (ST_IsValid(geom)),
    CONSTRAINT street_light_geom_not_empty CHECK (NOT ST_IsEmpty(geom))
);

CREATE TABLE patrimoine.green_space (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid              uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    commune_insee     text NOT NULL REFERENCES patrimoine.commune (insee) ON UPDATE CASCADE,
    source            text NOT NULL,
    source_id         text NOT NULL,
    condition         text REFERENCES patrimoine_vl.condition (code),
    installed_year    integer CONSTRAINT green_space_installed_year_range
                          CHECK (installed_year BETWEEN 1800 AND 2100),
    last_intervention date,
    extra             jsonb NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    updated_by        text NOT NULL DEFAULT patrimoine_app.actor(),
    name              text,
    kind              text NOT NULL REFERENCES patrimoine_vl.green_space_kind (code),
    area_m2           double precision GENERATED ALWAYS AS (ST_Area(geom)) STORED,
    geom              geometry(MultiPolygon, {{srid}}) NOT NULL,
    CONSTRAINT green_space_source_key UNIQUE (source, source_id),
    CONSTRAINT green_space_geom_valid CHECK (ST_IsValid(geom)),
    CONSTRAINT green_space_geom_not_empty CHECK (NOT ST_IsEmpty(geom))
);

CREATE TABLE patrimoine.building (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid              uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    commune_insee     text NOT NULL REFERENCES patrimoine.commune (insee) ON UPDATE CASCADE,
    source            text NOT NULL,
    source_id         text NOT NULL,
    condition         text REFERENCES patrimoine_vl.condition (code),
    installed_year    integer CONSTRAINT building_installed_year_range CHECK (installed_year BETWEEN 1800 AND 2100),
    last_intervention date,
    extra             jsonb NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    updated_by        text NOT NULL DEFAULT patrimoine_app.actor(),
    name              text,
    use               text NOT NULL REFERENCES patrimoine_vl.building_use (code),
    floor_area_m2     double precision CONSTRAINT building_floor_area_m2_range
                          CHECK (floor_area_m2 BETWEEN 1 AND 200000),
    footprint_m2      double precision GENERATED ALWAYS AS (ST_Area(geom)) STORED,
    geom              geometry(MultiPolygon, {{srid}}) NOT NULL,
    CONSTRAINT building_source_key UNIQUE (source, source_id),
    CONSTRAINT building_geom_valid CHECK (ST_IsValid(geom)),
    CONSTRAINT building_geom_not_empty CHECK (NOT ST_IsEmpty(geom))
);

-- Spatial and commune indexes, the same on every asset layer.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['depot', 'road', 'street_light', 'green_space', 'building'] LOOP
        EXECUTE format('CREATE INDEX %1$I ON patrimoine.%2$I USING gist (geom)', t || '_geom_idx', t);
        EXECUTE format('CREATE INDEX %1$I ON patrimoine.%2$I (commune_insee)', t || '_commune_idx', t);
    END LOOP;
END
$$;
CREATE INDEX street_light_road_idx ON patrimoine.street_light (road_id);
