-- gis-patrimoine 0016: background jobs kept in the database, so that any API worker answers for any job.
-- depends: 0015_arrangements
--
-- An upload's import is its journal row from the moment it is accepted (refused features and warnings in
-- `details`); a comparison of arrangements is its run row from the start, with its progress, then its result
-- or its error. (Kept in one worker's memory, `GET` answered 404 whenever another worker took the request.)

ALTER TABLE patrimoine_sys.import_job ADD COLUMN details jsonb NOT NULL DEFAULT '{}'::jsonb;

ALTER TABLE analysis.arrangement_run
    ALTER COLUMN result DROP NOT NULL,
    ADD COLUMN status text NOT NULL DEFAULT 'done' CHECK (status IN ('running', 'done', 'failed')),
    ADD COLUMN progress jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN error text,
    ADD CONSTRAINT arrangement_run_result CHECK ((status = 'done') = (result IS NOT NULL));
