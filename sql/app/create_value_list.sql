CREATE OR REPLACE FUNCTION patrimoine_app.create_value_list(list text)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    EXECUTE format($f$
        CREATE TABLE patrimoine_vl.%1$I (
            code       text PRIMARY KEY CHECK (code ~ '^[a-z0-9_]+$'),
            label_fr   text NOT NULL,
            label_en   text NOT NULL,
            sort_order integer NOT NULL DEFAULT 0,
            active     boolean NOT NULL DEFAULT true
        )$f$, list);
END
$function$;
