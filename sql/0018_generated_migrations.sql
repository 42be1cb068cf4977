-- gis-patrimoine 0018: migrations generated from the layer catalogue.
-- depends: 0017_one_history_function
--
-- A layer added as one file in layers/ (or an attribute added to a layer) needs no hand-written migration:
-- `db init` compares the catalogue with the database, writes the SQL that brings the tables to it (table,
-- checks, keys, indexes, history triggers, rights, data version) and applies it through yoyo as the migration
-- `catalogue_NNNN`, beside the numbered ones. Its text is kept here, so what a database went through can be
-- read back; yoyo's table records when it was applied, as for the others.

CREATE TABLE patrimoine_sys.generated_migration (
    migration_id text PRIMARY KEY,
    layers       text[] NOT NULL,
    summary      text NOT NULL,
    statement    text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON patrimoine_sys.generated_migration TO gp_reader;
