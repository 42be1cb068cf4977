-- gis-patrimoine 0003: journal of imports.
-- depends: 0002_history
--
-- The importer writes its job row on a separate connection so that a failed (rolled back) import is
-- journalled too.

CREATE TABLE patrimoine_sys.import_job (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    layer       text NOT NULL,
    file_name   text NOT NULL,
    file_sha256 text CHECK (file_sha256 ~ '^[0-9a-f]{64}$'),
    source      text,
    mode        text CHECK (mode IN ('upsert', 'append', 'replace')),
    options     jsonb NOT NULL DEFAULT '{}',
    counts      jsonb NOT NULL DEFAULT '{}',
    status      text NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'succeeded', 'failed', 'dry_run')),
    message     text,
    db_user     text NOT NULL DEFAULT current_user,
    app_user    text DEFAULT nullif(current_setting('gis_patrimoine.user', true), ''),
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    CONSTRAINT import_job_finished CHECK ((status = 'running') = (finished_at IS NULL))
);
CREATE INDEX import_job_layer_idx ON patrimoine_sys.import_job (layer, started_at DESC);
