-- gis-patrimoine 0013: the shared diagnostic — staff, equipment, depots' costs, contracts and purchases.
-- depends: 0012_noding
--
-- Tables beside the inventory, described in layers/diagnostic/ (one sheet each of the questionnaire workbook).
-- A row belongs to a commune (commune_insee), or to the agglomération (commune_insee empty): that sets who may
-- edit it (the same rights as the assets), and a re-import replaces one commune's answers. Every change is in
-- patrimoine_sys.history, like the assets'.

-- A value list's table, as 0001 made them (and as every later code list will be made: one definition).
-- patrimoine_app.create_value_list(): sql/app/create_value_list.sql (the application schema, rebuilt at every db init)
SELECT patrimoine_app.create_value_list(l)
FROM unnest(ARRAY['skill', 'grade', 'season', 'provider_kind', 'purchase_category', 'purchase_unit']) l;

-- A grade's default annual loaded cost of one FTE (synced from layers/codelists.yaml by db init).
ALTER TABLE patrimoine_vl.grade ADD COLUMN default_cost_eur double precision;

CREATE TABLE patrimoine.staff (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    commune_insee   text REFERENCES patrimoine.commune (insee) ON UPDATE CASCADE,
    service         text NOT NULL REFERENCES patrimoine_vl.service (code),
    skill           text NOT NULL REFERENCES patrimoine_vl.skill (code),
    grade           text REFERENCES patrimoine_vl.grade (code),
    fte             double precision NOT NULL CONSTRAINT staff_fte_range CHECK (fte BETWEEN 0 AND 500),
    loaded_cost_eur double precision CONSTRAINT staff_loaded_cost_eur_range CHECK (loaded_cost_eur BETWEEN 0 AND 200000),
    hours_per_year  double precision DEFAULT 1607
                    CONSTRAINT staff_hours_per_year_range CHECK (hours_per_year BETWEEN 0 AND 2200),
    absence_share   double precision DEFAULT 0.12
                    CONSTRAINT staff_absence_share_range CHECK (absence_share BETWEEN 0 AND 0.6),
    seasonal        boolean DEFAULT false,
    months          integer CONSTRAINT staff_months_range CHECK (months BETWEEN 1 AND 12),
    notes           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    updated_by      text NOT NULL DEFAULT patrimoine_app.actor()
);

CREATE TABLE patrimoine.equipment (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    commune_insee      text REFERENCES patrimoine.commune (insee) ON UPDATE CASCADE,
    depot_id           bigint NOT NULL REFERENCES patrimoine.depot (id) ON DELETE CASCADE,
    label              text NOT NULL,
    equipment_type     text NOT NULL REFERENCES patrimoine_vl.equipment_type (code),
    year               integer CONSTRAINT equipment_year_range CHECK (year BETWEEN 1950 AND 2100),
    purchase_price_eur double precision
                       CONSTRAINT equipment_purchase_price_eur_range CHECK (purchase_price_eur BETWEEN 0 AND 2000000),
    life_years         double precision CONSTRAINT equipment_life_years_range CHECK (life_years BETWEEN 1 AND 50),
    running_cost_eur   double precision
                       CONSTRAINT equipment_running_cost_eur_range CHECK (running_cost_eur BETWEEN 0 AND 500000),
    hours_used         double precision CONSTRAINT equipment_hours_used_range CHECK (hours_used BETWEEN 0 AND 8760),
    season             text DEFAULT 'all_year' REFERENCES patrimoine_vl.season (code),
    notes              text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    updated_by         text NOT NULL DEFAULT patrimoine_app.actor()
);
CREATE INDEX equipment_depot_idx ON patrimoine.equipment (depot_id);

CREATE TABLE patrimoine.depot_cost (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    commune_insee     text REFERENCES patrimoine.commune (insee) ON UPDATE CASCADE,
    depot_id          bigint NOT NULL UNIQUE REFERENCES patrimoine.depot (id) ON DELETE CASCADE,
    annual_cost_eur   double precision
                      CONSTRAINT depot_cost_annual_cost_eur_range CHECK (annual_cost_eur BETWEEN 0 AND 5000000),
    capacity_crews    integer CONSTRAINT depot_cost_capacity_crews_range CHECK (capacity_crews BETWEEN 0 AND 200),
    capacity_vehicles integer CONSTRAINT depot_cost_capacity_vehicles_range CHECK (capacity_vehicles BETWEEN 0 AND 500),
    notes             text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    updated_by        text NOT NULL DEFAULT patrimoine_app.actor()
);

CREATE TABLE patrimoine.contract (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    commune_insee   text REFERENCES patrimoine.commune (insee) ON UPDATE CASCADE,
    service         text NOT NULL REFERENCES patrimoine_vl.service (code),
    activity        text,
    provider_kind   text NOT NULL REFERENCES patrimoine_vl.provider_kind (code),
    provider        text NOT NULL,
    annual_cost_eur double precision NOT NULL
                    CONSTRAINT contract_annual_cost_eur_range CHECK (annual_cost_eur BETWEEN 0 AND 50000000),
    work_share      double precision DEFAULT 1 CONSTRAINT contract_work_share_range CHECK (work_share BETWEEN 0 AND 1),
    end_year        integer CONSTRAINT contract_end_year_range CHECK (end_year BETWEEN 2000 AND 2100),
    notes           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    updated_by      text NOT NULL DEFAULT patrimoine_app.actor()
);

CREATE TABLE patrimoine.purchase (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    commune_insee  text REFERENCES patrimoine.commune (insee) ON UPDATE CASCADE,
    category       text NOT NULL REFERENCES patrimoine_vl.purchase_category (code),
    item           text NOT NULL,
    quantity       double precision NOT NULL CONSTRAINT purchase_quantity_range CHECK (quantity BETWEEN 0 AND 100000000),
    unit           text NOT NULL REFERENCES patrimoine_vl.purchase_unit (code),
    unit_price_eur double precision NOT NULL
                   CONSTRAINT purchase_unit_price_eur_range CHECK (unit_price_eur BETWEEN 0 AND 1000000),
    supplier       text,
    notes          text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    updated_by     text NOT NULL DEFAULT patrimoine_app.actor()
);

-- a row is unique by its table's key (layers/diagnostic/*.yaml), empty values included
CREATE UNIQUE INDEX staff_key ON patrimoine.staff
    (coalesce(commune_insee, ''), service, skill, coalesce(grade, ''), coalesce(seasonal, false));
CREATE UNIQUE INDEX equipment_key ON patrimoine.equipment (coalesce(commune_insee, ''), depot_id, label);
CREATE UNIQUE INDEX contract_key ON patrimoine.contract
    (coalesce(commune_insee, ''), service, coalesce(activity, ''), provider);
CREATE UNIQUE INDEX purchase_key ON patrimoine.purchase (coalesce(commune_insee, ''), category, item);

INSERT INTO patrimoine_sys.data_version (layer)
VALUES ('staff'), ('equipment'), ('depot_cost'), ('contract'), ('purchase');

-- The assets' rights on a table with a commune (0010's, as one function every later table uses): everyone
-- reads, editors insert in their communes (row-level security) and change or delete only their communes' rows
-- (statement triggers naming the login and the commune).
-- patrimoine_app.attach_rights(): sql/app/attach_rights.sql (the application schema, rebuilt at every db init)

-- the diagnostic's tables: history like the assets', and their rights (the agglomération's rows, with no
-- commune, are managers' and admins')
SELECT patrimoine_app.attach_history(t, 'id'), patrimoine_app.attach_rights(t)
FROM unnest(ARRAY['staff', 'equipment', 'depot_cost', 'contract', 'purchase']) t;

-- Rows of the agglomération (no commune) are refused to commune editors too: name them in the message.
-- patrimoine_app.check_communes(): sql/app/check_communes.sql (the application schema, rebuilt at every db init)

-- Which commune answered which sheet, when, from which file: a commune that never answered is shown as
-- missing (never as zero); one that answered with no row has none. 'agglo' stands for the agglomération.
CREATE TABLE patrimoine_sys.diagnostic_return (
    commune_key text NOT NULL,
    table_name  text NOT NULL,
    file        text NOT NULL,
    rows        integer NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT now(),
    imported_by text NOT NULL DEFAULT patrimoine_app.actor(),
    PRIMARY KEY (commune_key, table_name)
);
GRANT SELECT ON patrimoine_sys.diagnostic_return TO gp_reader;
GRANT INSERT, UPDATE, DELETE ON patrimoine_sys.diagnostic_return TO gp_editor;
-- who answered for a commune is that commune's answer too: an editor records only its communes' returns
ALTER TABLE patrimoine_sys.diagnostic_return ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON patrimoine_sys.diagnostic_return FOR SELECT USING (true);
CREATE POLICY write_own ON patrimoine_sys.diagnostic_return FOR ALL
    USING (patrimoine_app.may_edit(nullif(commune_key, 'agglo')))
    WITH CHECK (patrimoine_app.may_edit(nullif(commune_key, 'agglo')));

-- One source for the machines a depot holds: the diagnostic's equipment, one row per machine. The former
-- per-type counts become as many machines (named after their type), and depot_equipment a view of them.
-- (season left empty: the code lists are filled after the migrations, by db init)
INSERT INTO patrimoine.equipment (commune_insee, depot_id, label, equipment_type, season)
SELECT d.commune_insee, e.depot_id, replace(e.equipment_type, '_', ' ') || ' ' || n, e.equipment_type, NULL
FROM patrimoine.depot_equipment e JOIN patrimoine.depot d ON d.id = e.depot_id, generate_series(1, e.quantity) n;
DROP TABLE patrimoine.depot_equipment;
CREATE VIEW patrimoine.depot_equipment AS
SELECT depot_id, equipment_type, count(*)::integer AS quantity FROM patrimoine.equipment GROUP BY 1, 2;
