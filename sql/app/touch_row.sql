CREATE OR REPLACE FUNCTION patrimoine_app.touch_row()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    IF public.hstore(NEW) - TG_ARGV - ARRAY['updated_at', 'updated_by']
       = public.hstore(OLD) - TG_ARGV - ARRAY['updated_at', 'updated_by'] THEN
        RETURN NULL;
    END IF;
    NEW.updated_at := now();
    NEW.updated_by := patrimoine_app.actor();
    NEW.created_at := OLD.created_at;
    RETURN NEW;
END
$function$;
