#!/usr/bin/env bash
# A PostgreSQL server for the example DAG tests (the warehouse load against a real PostgreSQL).
#
# Installs Debian's postgresql package if no server binaries are found (apt-get update first), then
# starts the project's own cluster on 127.0.0.1 (not the system's "main" cluster), in a folder under
# /tmp, with a database and a password-authenticated user for the tests. Idempotent: when the server
# is already running it only checks the database and user, which takes well under a second.
#
# stdout: only `export NAME=value` lines, for `eval "$(bash scripts/services/postgres.sh)"`
# (scripts/test.sh does that); everything else goes to stderr.
#
# Settings (environment): DUB_TEST_POSTGRES_PORT (default 55432), DUB_TEST_POSTGRES_DIR (default
# /tmp/airflow-provider-dub-postgres-<uid>).
set -euo pipefail
PORT="${DUB_TEST_POSTGRES_PORT:-55432}"
BASE="${DUB_TEST_POSTGRES_DIR:-/tmp/airflow-provider-dub-postgres-$(id -u)}"
DATA="$BASE/data"
DB_NAME="dub_examples"
DB_USER="dub_examples"
DB_PASSWORD="dub_examples"
log() { echo "postgres.sh: $*" >&2; }

server_bin() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$dir" ] && [ -x "$dir/pg_ctl" ] && echo "$dir"
  return 0
}

BIN="$(server_bin)"
if [ -z "$BIN" ]; then
  log "installing Debian's postgresql package"
  SUDO=()
  [ "$(id -u)" -ne 0 ] && SUDO=(sudo)
  "${SUDO[@]}" apt-get update >&2
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y --no-install-recommends postgresql >&2
  BIN="$(server_bin)"
  [ -n "$BIN" ] || { log "no PostgreSQL server binaries after installing postgresql"; exit 1; }
fi

# PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres system user.
AS=()
if [ "$(id -u)" -eq 0 ]; then
  AS=(runuser -u postgres --)
  install -d -m 0700 -o postgres -g postgres "$BASE"
else
  install -d -m 0700 "$BASE"
fi

if [ ! -s "$DATA/PG_VERSION" ]; then
  log "creating the cluster in $DATA"
  "${AS[@]}" "$BIN/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --no-locale >&2
fi

if ! "${AS[@]}" "$BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1; then
  log "starting PostgreSQL on 127.0.0.1:$PORT"
  "${AS[@]}" "$BIN/pg_ctl" start -D "$DATA" -w -t 60 -l "$BASE/server.log" \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $BASE -c fsync=off" >&2 ||
    { log "the server did not start; its log:"; tail -n 30 "$BASE/server.log" >&2; exit 1; }
fi

psql_admin() { "${AS[@]}" "$BIN/psql" -h "$BASE" -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ "$(psql_admin -d postgres -c "SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER'")" != "1" ]; then
  log "creating the user $DB_USER"
  psql_admin -d postgres -c "CREATE ROLE $DB_USER LOGIN PASSWORD '$DB_PASSWORD'" >&2
fi
if [ "$(psql_admin -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" != "1" ]; then
  log "creating the database $DB_NAME"
  psql_admin -d postgres -c "CREATE DATABASE $DB_NAME OWNER $DB_USER" >&2
fi
log "PostgreSQL ready on 127.0.0.1:$PORT, database $DB_NAME"
echo "export DUB_TEST_POSTGRES_URI=postgresql://$DB_USER:$DB_PASSWORD@127.0.0.1:$PORT/$DB_NAME"
