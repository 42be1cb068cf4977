CREATE OR REPLACE FUNCTION patrimoine_app.attach_rights(t text)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    EXECUTE format('ALTER TABLE patrimoine.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY read_all ON patrimoine.%I FOR SELECT USING (true)', t);
    EXECUTE format('CREATE POLICY insert_own ON patrimoine.%I FOR INSERT '
                   'WITH CHECK (patrimoine_app.may_edit(commune_insee))', t);
    EXECUTE format('CREATE POLICY update_checked ON patrimoine.%I FOR UPDATE USING (true) WITH CHECK (true)', t);
    EXECUTE format('CREATE POLICY delete_any ON patrimoine.%I FOR DELETE USING (true)', t);
    EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON patrimoine.%I REFERENCING OLD TABLE AS old_rows '
                   'NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION patrimoine_app.check_communes()',
                   t || '_rights_update', t);
    EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON patrimoine.%I REFERENCING OLD TABLE AS old_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION patrimoine_app.check_communes()',
                   t || '_rights_delete', t);
    EXECUTE format('GRANT INSERT, UPDATE, DELETE ON patrimoine.%I TO gp_editor', t);
END
$function$;
