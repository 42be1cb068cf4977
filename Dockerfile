# gis-patrimoine API image. The database runs in its own container (see docker-compose.yml).
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends gdal-bin postgresql-client \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY gis_patrimoine ./gis_patrimoine
COPY layers ./layers
COPY sql ./sql
RUN pip install --no-cache-dir .

ENV GIS_PATRIMOINE_CATALOGUE_DIR=/app/layers \
    GIS_PATRIMOINE_MIGRATIONS_DIR=/app/sql \
    GIS_PATRIMOINE_DATA_DIR=/app/.data

RUN useradd --system --home /app gis && chown -R gis /app
USER gis
EXPOSE 8000
CMD ["sh", "-c", "gis-patrimoine db init && gis-patrimoine db status"]
