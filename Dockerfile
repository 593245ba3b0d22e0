# onex, production image: `docker compose up` (see docker-compose.yml), or
#   docker build -t onex . && docker run -e ONEX_ENV=production -e ONEX_SECRET_KEY=... \
#     -e ONEX_DATABASE_URL=postgresql+psycopg://USER:PASSWORD@HOST:5432/DB -p 8000:8000 onex
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Time-zone data for zoneinfo (ONEX_TIMEZONE), which slim images may lack.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tzdata \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /srv/onex

# The project, installed as a regular (non-editable) package.
COPY pyproject.toml README.md ./
COPY app/ app/
RUN pip install .

# Migrations: `python -m app migrate` runs alembic with alembic.ini from here.
COPY alembic.ini ./
COPY alembic/ alembic/

RUN useradd --system --user-group --uid 10001 --home-dir /srv/onex --no-create-home onex \
    && mkdir -p /srv/onex/data \
    && chown onex:onex /srv/onex/data
USER onex

ENV ONEX_ENV=production
EXPOSE 8000

# Healthy once /ready answers 200 (database reachable, schema at head); the image has no curl.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=6 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=4).status != 200)"]

# `python -m app serve` (not plain `uvicorn --workers`) binds its own TCP socket, so every
# connection of every worker has TCP_NODELAY (docs/deployment.md).
CMD ["sh", "-c", "python -m app migrate && exec python -m app serve --host 0.0.0.0 --port 8000 --workers 4"]
