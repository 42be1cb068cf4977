-- A TRUNCATE of a table with a history is recorded: a BEFORE TRUNCATE trigger writes its rows as deletions,
-- with their values (patrimoine_app.log_rows, sql/app/, the function that records deletions), since an insertion no longer stores a copy of
-- its row and would otherwise lose its values with the row. Every table given a history by attach_history
-- (its log_insert trigger names the key) gets it; attach_history adds it to the tables made after this.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT tg.tgrelid::regclass AS tbl,
                    convert_from(substring(tg.tgargs FROM 1 FOR position('\x00'::bytea IN tg.tgargs) - 1), 'UTF8')
                        AS key_column
             FROM pg_trigger tg
             WHERE tg.tgname = 'log_insert' AND tg.tgnargs = 1 LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER log_truncate_rows BEFORE TRUNCATE ON %s
                        FOR EACH STATEMENT EXECUTE FUNCTION patrimoine_app.log_rows(%L)',
                       t.tbl, t.key_column);
    END LOOP;
END
$$;
