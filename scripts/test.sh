#!/usr/bin/env bash
# The whole test suite, set up from scratch: lint and type checks, then the tests on the newest
# Airflow and on the lowest supported one (without the tests that cannot differ between versions, see
# below). Usage: bash scripts/test.sh [extra pytest args]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOWEST_AIRFLOW="3.1.8"
NEWEST_AIRFLOW="3.3.2"
status=0
# Services the tests need (e.g. PostgreSQL), one script each: each installs and starts its service
# if it is not running, and prints the environment variables that point the tests at it.
for service in scripts/services/*.sh; do
  [ -e "$service" ] || continue
  echo "==> $service"
  eval "$(bash "$service")"
done
for version in "$NEWEST_AIRFLOW" "$LOWEST_AIRFLOW"; do
  # shellcheck source=scripts/venv.sh
  source scripts/venv.sh "$version"
  if [ "$version" = "$NEWEST_AIRFLOW" ]; then
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
  fi
  # The lowest supported Airflow runs every test whose outcome can depend on the Airflow version
  # (operators, sensors, triggers, the hooks' connections, dag.test() runs, the example DAGs, the
  # deployment); the tests marked airflow_independent (listed in tests/conftest.py: protocol/, the
  # emulator, the engines' SQL) run on the newest only. An -m of your own replaces this selection.
  selection=()
  if [ "$version" = "$LOWEST_AIRFLOW" ]; then
    selection=(-m "not airflow_independent")
  fi
  echo "==> pytest on Airflow $version ${selection[*]}"
  set +e
  "$VENV/bin/python" -m pytest -p no:cacheprovider --durations=25 ${selection[@]+"${selection[@]}"} "$@"
  code=$?
  set -e
  if [ "$code" -ne 0 ]; then
    echo "pytest failed on Airflow $version (exit $code)"
    status=1
  fi
done
exit "$status"
