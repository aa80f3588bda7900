#!/usr/bin/env bash
# The documentation site: builds docs/ with Sphinx, every warning an error, into docs/_build/html,
# then runs the examples the pages include from docs/snippets. Needs VENV (with the docs extra).
#   usage: VENV=/path/to/venv bash scripts/checks/docs.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
: "${VENV:?set VENV to a virtualenv with airflow-provider-dub[docs] installed}"
# Importing Airflow (autodoc, the snippets) must not touch ~/airflow or a developer's settings.
AIRFLOW_HOME="$(mktemp -d -t airflow-provider-dub-docs-XXXXXX)"
trap 'rm -rf "$AIRFLOW_HOME"' EXIT
export AIRFLOW_HOME AIRFLOW__CORE__LOAD_EXAMPLES=False
echo "==> sphinx-build -W (warnings are errors) into docs/_build/html"
"$VENV/bin/python" -m sphinx -W --keep-going -E -q -b html docs docs/_build/html
echo "==> the documentation's examples (docs/snippets)"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider docs/snippets
