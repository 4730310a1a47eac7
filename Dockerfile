# Front-end libraries, pinned by package-lock.json (the same versions `make web-assets` installs).
FROM node:20-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts \
 && mkdir -p vendor/leaflet \
 && cp node_modules/htmx.org/dist/htmx.min.js node_modules/echarts/dist/echarts.min.js vendor/ \
 && cp -r node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css \
       node_modules/leaflet/dist/images vendor/leaflet/

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY backend ./backend
COPY matching ./matching
COPY web ./web
COPY --from=assets /build/vendor ./web/static/vendor
COPY alembic.ini ./
COPY alembic ./alembic
COPY seed_data ./seed_data
# Editable install: the app finds alembic/ and seed_data/ beside its packages in /app.
RUN pip install --upgrade pip && pip install -e .
COPY docker/entrypoint.sh /entrypoint.sh
RUN chmod +x /entrypoint.sh && useradd --system --home /app isx && mkdir -p /app/var && chown isx /app/var
USER isx
EXPOSE 8000
ENTRYPOINT ["/entrypoint.sh"]
