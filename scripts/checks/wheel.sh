#!/usr/bin/env bash
# Release hygiene: builds the sdist and the wheel, checks both carry LICENSE and the package data, then
# installs the wheel (not editable) into a fresh virtualenv with the newest Airflow and runs the smoke
# test there (tests/release/smoke.py): provider discovery and one read against the emulator. Package data
# missing from the wheel fails here, where the editable installs of the test venvs would not notice.
#   usage: VENV=/path/to/venv bash scripts/checks/wheel.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
UV="$ROOT/.venvs/tools/bin/uv"
AIRFLOW_VERSION="$("$VENV/bin/python" -c 'import airflow; print(airflow.__version__)')"
WORK="$(mktemp -d -t airflow-provider-dub-wheel-XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
echo "==> building the sdist and the wheel"
"$UV" build --quiet --out-dir "$WORK/dist" "$ROOT"
"$VENV/bin/python" tests/release/check_dists.py "$WORK/dist"
echo "==> installing the wheel with apache-airflow==$AIRFLOW_VERSION into a fresh virtualenv"
"$UV" venv --quiet --python "$VENV/bin/python" "$WORK/venv"
VIRTUAL_ENV="$WORK/venv" "$UV" pip install --quiet "apache-airflow==$AIRFLOW_VERSION" "$WORK"/dist/*.whl
echo "==> smoke test from the installed wheel"
# Run from an empty folder so that the checkout's airflow_provider_dub/ cannot shadow the installed one.
export AIRFLOW_HOME="$WORK/airflow-home" AIRFLOW__CORE__LOAD_EXAMPLES=False
mkdir -p "$AIRFLOW_HOME"
(cd "$WORK" && "$WORK/venv/bin/python" "$ROOT/tests/release/smoke.py" "$WORK/venv/bin/airflow")
