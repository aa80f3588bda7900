#!/usr/bin/env bash
# The whole test suite, set up from scratch: lint and type checks, then the tests on the newest
# Airflow and, side by side, on the lowest supported one (without the tests that cannot differ
# between versions, see below). Usage: bash scripts/test.sh [extra pytest args]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOWEST_AIRFLOW="3.1.8"
NEWEST_AIRFLOW="3.3.2"
status=0
# Services the tests need (e.g. PostgreSQL), one script each: each installs and starts its service
# if it is not running, and prints the environment variables that point the tests at it. A script that
# fails stops the run here (`eval "$(...)"` alone would go on without its variables, and the tests
# that need the service would skip).
for service in scripts/services/*.sh; do
  [ -e "$service" ] || continue
  echo "==> $service"
  settings="$(bash "$service")"
  eval "$settings"
done
# shellcheck source=scripts/venv.sh
source scripts/venv.sh "$LOWEST_AIRFLOW"
LOWEST_VENV="$VENV"
# shellcheck source=scripts/venv.sh
source scripts/venv.sh "$NEWEST_AIRFLOW"
NEWEST_VENV="$VENV"
echo "==> ruff (with AIR rules)"
"$VENV/bin/ruff" check . && "$VENV/bin/ruff" format --check .
echo "==> mypy"
"$VENV/bin/mypy"
# Further checks (e.g. the documentation build), one script each, run with the venv active.
for check in scripts/checks/*.sh; do
  [ -e "$check" ] || continue
  echo "==> $check"
  VENV="$VENV" bash "$check"
done

# The two pytest runs go side by side, each printing to its own log, shown whole when both have
# ended: one session leaves a core idle most of the time (it waits on the emulator, servers and
# Airflow's subprocesses), and the sessions share nothing (each has its own AIRFLOW_HOME, free ports,
# its own tables, schemas and buckets in the shared services).
#
# The lowest supported Airflow runs every test whose outcome can depend on the Airflow version
# (operators, sensors, triggers, the hooks' connections, dag.test() runs, the example DAGs, the
# deployment); the tests marked airflow_independent (listed in tests/conftest.py: protocol/, the
# emulator, the engines' SQL) run on the newest only. An -m of your own replaces this selection.
LOGS="$(mktemp -d -t airflow-provider-dub-pytest-XXXXXX)"
echo "==> pytest on Airflow $NEWEST_AIRFLOW, and on $LOWEST_AIRFLOW -m 'not airflow_independent', side by side"
"$NEWEST_VENV/bin/python" -m pytest -p no:cacheprovider --durations=25 "$@" >"$LOGS/$NEWEST_AIRFLOW.log" 2>&1 &
newest=$!
"$LOWEST_VENV/bin/python" -m pytest -p no:cacheprovider --durations=25 -m "not airflow_independent" "$@" \
  >"$LOGS/$LOWEST_AIRFLOW.log" 2>&1 &
lowest=$!
for run in "$NEWEST_AIRFLOW:$newest" "$LOWEST_AIRFLOW:$lowest"; do
  version="${run%%:*}"
  set +e
  wait "${run##*:}"
  code=$?
  set -e
  echo "==> pytest on Airflow $version"
  cat "$LOGS/$version.log"
  if [ "$code" -eq 5 ] && [ "$version" = "$LOWEST_AIRFLOW" ]; then
    code=0 # pytest's "no tests collected": a selection of airflow_independent tests only
  fi
  if [ "$code" -ne 0 ]; then
    echo "pytest failed on Airflow $version (exit $code)"
    status=1
  fi
done
rm -rf "$LOGS"
exit "$status"
