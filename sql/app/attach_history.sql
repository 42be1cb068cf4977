CREATE OR REPLACE FUNCTION patrimoine_app.attach_history(tbl text, key_column text)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
DECLARE
    generated text;
BEGIN
    SELECT string_agg(quote_literal(attname), ', ') INTO generated
    FROM pg_attribute
    WHERE attrelid = format('patrimoine.%I', tbl)::regclass AND attgenerated = 's' AND NOT attisdropped;
    EXECUTE format('CREATE TRIGGER touch_row BEFORE UPDATE ON patrimoine.%I
                    FOR EACH ROW EXECUTE FUNCTION patrimoine_app.touch_row(%s)', tbl, coalesce(generated, ''));
    EXECUTE format('CREATE TRIGGER log_insert AFTER INSERT ON patrimoine.%I REFERENCING NEW TABLE AS new_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION patrimoine_app.log_rows(%L)', tbl, key_column);
    EXECUTE format('CREATE TRIGGER log_update AFTER UPDATE ON patrimoine.%I
                    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION patrimoine_app.log_update(%L)', tbl, key_column);
    EXECUTE format('CREATE TRIGGER log_delete AFTER DELETE ON patrimoine.%I REFERENCING OLD TABLE AS old_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION patrimoine_app.log_rows(%L)', tbl, key_column);
    EXECUTE format('CREATE TRIGGER log_truncate AFTER TRUNCATE ON patrimoine.%I
                    FOR EACH STATEMENT EXECUTE FUNCTION patrimoine_app.bump_result_version()', tbl);
    EXECUTE format('CREATE OR REPLACE TRIGGER log_truncate_rows BEFORE TRUNCATE ON patrimoine.%I
                    FOR EACH STATEMENT EXECUTE FUNCTION patrimoine_app.log_rows(%L)', tbl, key_column);
END
$function$;
