#!/usr/bin/env bash
# The main job: sets everything up on a fresh machine and reads every customer of a local Dub
# emulator through DubHook. Usage: bash scripts/demo.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/venv.sh
source scripts/venv.sh 3.3.2
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/.airflow}"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
"$VENV/bin/python" - <<'PY'
import os
import time

from airflow_provider_dub.testing import DubEmulator

with DubEmulator(customers=25_000, seed=1) as dub:
    os.environ["AIRFLOW_CONN_DUB_DEFAULT"] = dub.airflow_conn_json()
    from airflow_provider_dub.hooks.dub import DubHook

    hook = DubHook()
    started = time.monotonic()
    ids = [customer["id"] for customer in hook.iter_customers()]
    elapsed = time.monotonic() - started
    truth = dub.customer_ids()
    print(f"Read {len(ids)} customers with {hook.request_count} requests in {elapsed:.1f} s")
    print(f"Distinct: {len(set(ids))}; equal to the emulator's ground truth: {set(ids) == truth}")
PY
