#!/usr/bin/env bash
# Makes sure a local Postgres is installed and running, with a role and a
# database for Tidings. Safe to run again: it reuses what is there.
#   scripts/postgres.sh            role tidings/tidings (CREATEDB), database tidings
set -euo pipefail

role=${TIDINGS_PG_ROLE:-tidings}
password=${TIDINGS_PG_PASSWORD:-tidings}
database=${TIDINGS_PG_DATABASE:-tidings}

if [ "$(id -u)" = 0 ]; then
  as_postgres() { runuser -u postgres -- "$@"; }
  as_root() { "$@"; }
else
  as_postgres() { sudo -u postgres "$@"; }
  as_root() { sudo "$@"; }
fi

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  echo "postgres.sh: installing postgresql with apt-get"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
fi

if command -v pg_lsclusters >/dev/null 2>&1; then
  if [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then
    ver=$(ls /usr/lib/postgresql | sort -V | tail -1)
    as_root pg_createcluster "$ver" main >/dev/null
  fi
  read -r ver name _ < <(pg_lsclusters -h | head -1)
  as_root pg_ctlcluster "$ver" "$name" start >/dev/null 2>&1 || true
fi

for _ in $(seq 1 60); do
  pg_isready -q -h 127.0.0.1 && break
  sleep 0.5
done
pg_isready -q -h 127.0.0.1 || { echo "postgres.sh: Postgres did not start on 127.0.0.1:5432" >&2; exit 1; }

as_postgres psql -q -v ON_ERROR_STOP=1 -d postgres <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') THEN
    CREATE ROLE $role LOGIN CREATEDB PASSWORD '$password';
  END IF;
END
\$\$;
-- DROP DATABASE ... WITH (FORCE) in the tests must be able to end an autovacuum
-- worker that happens to be connected to a test database.
SET client_min_messages = warning;
GRANT pg_signal_backend TO $role;
SQL
if [ "$(as_postgres psql -tAq -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$database'")" != 1 ]; then
  as_postgres createdb -O "$role" "$database"
fi
