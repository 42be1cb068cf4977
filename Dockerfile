# gis-patrimoine API image. The database runs in its own container (see docker-compose.yml).
FROM node:20-bookworm-slim AS web
WORKDIR /web
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

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
COPY --from=web /web/node_modules/maplibre-gl/dist ./node_modules/maplibre-gl/dist

ENV GIS_PATRIMOINE_CATALOGUE_DIR=/app/layers \
    GIS_PATRIMOINE_MIGRATIONS_DIR=/app/sql \
    GIS_PATRIMOINE_STATIC_DIR=/app/node_modules \
    GIS_PATRIMOINE_DATA_DIR=/app/.data

RUN useradd --system --home /app gis && chown -R gis /app
USER gis
EXPOSE 8000
CMD ["sh", "-c", "gis-patrimoine db init && gis-patrimoine serve --host 0.0.0.0 --port 8000 --workers 2"]
