-- Inserts and deletes are recorded by one function, patrimoine_app.log_rows() (sql/app/log_rows.sql), instead
-- of two that differed by a word: every table's log_insert and log_delete triggers are made again on it. The
-- old functions have no file any more: db init drops them after this migration.
DO $$
DECLARE
    t record;
    definition text;
BEGIN
    FOR t IN SELECT tg.oid, tg.tgname, tg.tgrelid::regclass AS tbl FROM pg_trigger tg
             JOIN pg_proc p ON p.oid = tg.tgfoid JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'patrimoine_app' AND p.proname IN ('log_insert', 'log_delete') LOOP
        definition := pg_get_triggerdef(t.oid);
        EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, t.tbl);
        EXECUTE regexp_replace(definition, 'patrimoine_app\.log_(insert|delete)\(', 'patrimoine_app.log_rows(');
    END LOOP;
END
$$;
