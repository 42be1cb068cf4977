-- Inserts and deletes are recorded by one function, patrimoine_app.log_rows() (sql/app/log_rows.sql), instead
-- of two that differed by a word, and a TRUNCATE bumps the data version through the function the result tables
-- already use (bump_result_version, the same body as log_truncate had): every table's log_insert, log_delete and
-- log_truncate triggers are made again on them. The old functions have no file any more: db init drops them
-- after this migration.
DO $$
DECLARE
    t record;
    definition text;
BEGIN
    FOR t IN SELECT tg.oid, tg.tgname, tg.tgrelid::regclass AS tbl FROM pg_trigger tg
             JOIN pg_proc p ON p.oid = tg.tgfoid JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'patrimoine_app' AND p.proname IN ('log_insert', 'log_delete', 'log_truncate') LOOP
        definition := pg_get_triggerdef(t.oid);
        EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, t.tbl);
        definition := regexp_replace(definition, 'patrimoine_app\.log_(insert|delete)\(', 'patrimoine_app.log_rows(');
        EXECUTE replace(definition, 'patrimoine_app.log_truncate(', 'patrimoine_app.bump_result_version(');
    END LOOP;
END
$$;
