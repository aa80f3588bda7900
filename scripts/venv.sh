# Sourced by the other scripts: creates (or reuses) a virtualenv with a given Airflow version and this
# project installed in editable mode with its test and lint extras. Needs only python3 and a package index.
#   usage: source scripts/venv.sh 3.3.2   ->  sets VENV to the environment's folder
set -euo pipefail
AIRFLOW_VERSION="${1:?airflow version}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.venvs/tools"
VENV="$ROOT/.venvs/airflow-$AIRFLOW_VERSION"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$TOOLS/bin/uv" ]; then
  echo "==> installing uv (fast resolver) into $TOOLS"
  "$PYTHON" -m venv "$TOOLS"
  "$TOOLS/bin/pip" install --quiet --disable-pip-version-check "uv>=0.5"
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$TOOLS/bin/uv" venv --quiet --python "$PYTHON" "$VENV"
fi
# Airflow 3.1.0 imports structlog.dev.Styles, which newer structlog removed; Airflow's own constraints
# file pins it, we pin just that.
PINS=()
case "$AIRFLOW_VERSION" in 3.1.[0-7]) PINS+=("structlog<25.5") ;; esac
echo "==> installing apache-airflow==$AIRFLOW_VERSION and airflow-provider-dub into $VENV"
VIRTUAL_ENV="$VENV" "$TOOLS/bin/uv" pip install --quiet "apache-airflow==$AIRFLOW_VERSION" ${PINS[@]+"${PINS[@]}"} -e "$ROOT[test,lint,examples,docs,browser]"
export VENV
