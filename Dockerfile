# medic's image: one image for every service in docker-compose.yml (migrate, workers, beat,
# flower, serve); the command picks the role. No secrets here: settings come from the
# environment at run time (the env file compose hands to each container, see .env.example).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# pg_dump and pg_restore for the backup job (the client must be as new as the server or newer).
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system medic \
    && useradd --system --gid medic --home-dir /var/lib/medic --no-create-home --shell /usr/sbin/nologin medic

# The project from its own files: runtime dependencies only, no test extras.
WORKDIR /opt/medic
COPY pyproject.toml README.md ./
COPY config ./config
COPY workers ./workers
COPY tasks ./tasks
COPY schedules ./schedules
COPY client/medic_client ./client/medic_client
RUN pip install --no-cache-dir . && rm -rf /opt/medic/build

# Owned by medic, so the named volumes mounted here start out writable by it.
ENV MEDIC_DATA_DIR=/var/lib/medic \
    MEDIC_BACKUP__DIR=/var/backups/medic
RUN mkdir -p /var/lib/medic /var/backups/medic /var/log/medic \
    && chown medic:medic /var/lib/medic /var/backups/medic /var/log/medic

USER medic
WORKDIR /var/lib/medic
# No ENTRYPOINT: compose's commands start with `medic`, as the tests run them natively.
# Alone, the image runs the embedded all-in-one (SQLite in MEDIC_DATA_DIR).
CMD ["medic", "run"]
