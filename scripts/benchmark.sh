#!/usr/bin/env bash
# The benchmark of issue "Performance": our full read against the alternatives on the local emulator
# (an idle key), a read sharing its key with a second client (200,000 customers), with --long the
# sustained 1,000,000-customer read (about 9 minutes), each beside the floor Dub's window allows,
# memory of a 1,000,000-customer read to JSON Lines, import cost. Prints markdown tables.
# Usage: bash scripts/benchmark.sh [--long] [--customers N --latency S --rate-limit R
#        --shared-customers N --shared-other R --long-customers N --memory-customers M --skip ...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/venv.sh
source scripts/venv.sh 3.3.2
# The alternatives compared: Dub's own SDK and Airflow's HTTP provider (HttpOperator).
VIRTUAL_ENV="$VENV" "$ROOT/.venvs/tools/bin/uv" pip install --quiet "dub==0.39.0" "apache-airflow-providers-http"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$(mktemp -d)}"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
"$VENV/bin/python" -m benchmarks.run "$@"
# The warehouse load (benchmarks/warehouse.py): 1,000,000 customers merged into SQLite, DuckDB and
# PostgreSQL (scripts/services/postgres.sh), three days each; DUB_BENCH_WAREHOUSE=0 skips it.
if [ "${DUB_BENCH_WAREHOUSE:-1}" != "0" ]; then
  settings="$(bash scripts/services/postgres.sh)" # a failure stops here, as in scripts/test.sh
  eval "$settings"
  "$VENV/bin/python" -m benchmarks.warehouse
fi
