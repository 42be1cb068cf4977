-- gis-patrimoine 0011: QGIS's own table of layer styles (public.layer_styles, as QGIS creates it), where the
-- default style of every layer is written from the catalogue (`gis-patrimoine qgis styles`, run by db init).
-- depends: 0010_roles

CREATE TABLE IF NOT EXISTS public.layer_styles (
    id                serial PRIMARY KEY,
    f_table_catalog   varchar,
    f_table_schema    varchar,
    f_table_name      varchar,
    f_geometry_column varchar,
    stylename         text,
    styleqml          xml,
    stylesld          xml,
    useasdefault      boolean,
    description       text,
    owner             varchar(63) DEFAULT CURRENT_USER,
    ui                xml,
    update_time       timestamp DEFAULT CURRENT_TIMESTAMP,
    type              varchar
);
GRANT SELECT ON public.layer_styles TO gp_reader;
