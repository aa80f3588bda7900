#!/usr/bin/env bash
# The main job: a daily warehouse load of every Dub customer (dags/dub_customers_warehouse.py), set up
# from scratch and run end to end with `airflow dags test`. Usage: bash scripts/demo.sh
#
# Sets up a virtualenv (scripts/venv.sh, Airflow 3.3.2), an Airflow home, its metadata DB and the
# `dub_default` connection, then runs the DAG unchanged: a full snapshot to file:// storage, merged
# (DubCustomersToSqlOperator) into the default warehouse (an SQLite file in the Airflow home; no
# `dub_warehouse` connection needed) with a history table, and prints what it did: rows inserted /
# updated / marked deleted, the file, wall times, the history's versions.
#
# Warehouse: DUB_DEMO_WAREHOUSE=sqlite (default), duckdb (a DuckDB file in the Airflow home, through
# the DuckDB provider) or postgres (scripts/services/postgres.sh's server) runs the same demo into
# that engine, as the `dub_warehouse` connection.
#
# Dub, one of:
#   * DUB_API_KEY=dub_...        your workspace (Business plan or higher), one run for today;
#   * AIRFLOW_CONN_DUB_DEFAULT or a `dub_default` connection in $AIRFLOW_HOME: used as it is;
#   * neither: a local Dub emulator (DUB_DEMO_CUSTOMERS customers, default 25,000), two days: a first
#     load yesterday, then customers change, come and go, and today's load merges just that. No account,
#     no server. Emulator runs always use the demo's own Airflow home, reset each time.
# AIRFLOW_HOME defaults to .airflow/ in the repository.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DUB_DEMO_STARTED="$(date +%s)"
export DUB_DEMO_STARTED
# shellcheck source=scripts/venv.sh
source scripts/venv.sh 3.3.2
DEMO_HOME="$ROOT/.airflow"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$DEMO_HOME}"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
if [ -n "${DUB_API_KEY:-}" ]; then
  AIRFLOW_CONN_DUB_DEFAULT="$("$VENV/bin/python" -c 'import json, os; print(json.dumps({"conn_type": "dub", "password": os.environ["DUB_API_KEY"]}))')"
  export AIRFLOW_CONN_DUB_DEFAULT
fi
migrate() {
  mkdir -p "$AIRFLOW_HOME"
  echo "==> airflow db migrate ($AIRFLOW_HOME)"
  "$VENV/bin/airflow" db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 ||
    { tail -n 30 "$AIRFLOW_HOME/db-migrate.log"; exit 1; }
}
migrate
export DUB_DEMO_WAREHOUSE="${DUB_DEMO_WAREHOUSE:-sqlite}"
case "$DUB_DEMO_WAREHOUSE" in
  sqlite | duckdb) ;;
  postgres) # a failure stops here (`eval "$(...)"` alone would go on without the variables)
    settings="$(bash scripts/services/postgres.sh)"
    eval "$settings"
    ;;
  *) echo "DUB_DEMO_WAREHOUSE=$DUB_DEMO_WAREHOUSE: expected sqlite, duckdb or postgres" >&2; exit 2 ;;
esac
if [ -n "${AIRFLOW_CONN_DUB_DEFAULT:-}" ] ||
  "$VENV/bin/airflow" connections get dub_default >/dev/null 2>&1; then
  export DUB_DEMO_TARGET=dub
else
  export DUB_DEMO_TARGET=emulator
  if [ "$AIRFLOW_HOME" != "$DEMO_HOME" ]; then
    export AIRFLOW_HOME="$DEMO_HOME"
    migrate
  fi
fi
exec "$VENV/bin/python" - <<'PY'
"""Runs the warehouse load with `airflow dags test` and reports what it did."""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

DAG_ID = "dub_customers_warehouse"
HOME = Path(os.environ["AIRFLOW_HOME"])
ENGINE = os.environ["DUB_DEMO_WAREHOUSE"]
WAREHOUSE = HOME / ("dub_warehouse.duckdb" if ENGINE == "duckdb" else "dub_warehouse.db")
TABLE, HISTORY = "dub_customers", "dub_customers_history"
DATA = HOME / "dub-data"
MARKER = HOME / ".dub-demo-emulator"  # the warehouse and files hold emulator customers


def run_day(day: date) -> dict:
    """`airflow dags test` for one day; print and return the merge's result."""
    log = HOME / "demo-logs" / f"{DAG_ID}-{day}.log"
    log.parent.mkdir(exist_ok=True)
    print(f"==> airflow dags test {DAG_ID} {day}", flush=True)
    started = time.monotonic()
    with log.open("w") as out:
        code = subprocess.run(
            [
                sys.executable, "-m", "airflow", "dags", "test", DAG_ID, day.isoformat(),
                "--conf", json.dumps({"history_table": HISTORY}),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        ).returncode
    wall = time.monotonic() - started
    if code:
        print("".join(log.read_text().splitlines(keepends=True)[-40:]))
        sys.exit(f"The run failed (exit {code}); the whole log: {log}")
    snapshot, merge = latest_xcoms()
    path = Path(snapshot["uri"].removeprefix("file://"))
    size = f", {path.stat().st_size / 1e6:.1f} MB" if path.is_file() else ""
    print(
        f"    snapshot  {snapshot['records']:,} customers, {snapshot['requests']} requests, "
        f"{snapshot['duration_seconds']:.1f} s -> {snapshot['uri']}{size}"
    )
    print(
        f"    merge     inserted {merge['inserted']:,} | updated {merge['updated']:,} | "
        f"marked deleted {merge['deleted']:,} | restored {merge['restored']:,} | "
        f"unchanged {merge['unchanged']:,}  (table {merge['table']})"
    )
    print(f"    wall time {wall:.1f} s for the whole `airflow dags test` (log: {log})", flush=True)
    return merge


def latest_xcoms() -> tuple[dict, dict]:
    """The snapshot's and the merge's XCom of the latest run."""
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run_id = session.scalars(
            select(DagRun.run_id).where(DagRun.dag_id == DAG_ID).order_by(DagRun.id.desc())
        ).first()
        values = {}
        for task_id in ("snapshot", "merge"):
            row = session.scalars(
                select(XComModel).where(
                    XComModel.dag_id == DAG_ID,
                    XComModel.run_id == run_id,
                    XComModel.task_id == task_id,
                    XComModel.key == "return_value",
                )
            ).one()
            values[task_id] = XComModel.deserialize_value(row)
    return values["snapshot"], values["merge"]


def change_dub(dub, rng: random.Random) -> None:
    """A day in Dub: customers buy, cancel, move, change address; some arrive, some are deleted."""
    customers = dub.customers()
    changed = rng.sample([c for c in customers if c["email"]], 300)
    for customer in changed:
        field = rng.choice(["sales", "saleAmount", "subscriptionCanceledAt", "country", "email", "name"])
        value = {
            "sales": customer["sales"] + 1,
            "saleAmount": customer["saleAmount"] + 2_900,
            "subscriptionCanceledAt": "2026-01-01T09:30:00.000Z",
            "country": "FR" if customer["country"] != "FR" else "DE",
            "email": f"new.{customer['email']}",
            "name": f"{customer['name']} Jr.",
        }[field]
        dub.update_customer(customer["id"], **{field: value})
    added = dub.add_customers(120) + dub.add_customers(30, imported=True)
    keep = {c["id"] for c in changed}
    dub.delete_customers(rng.sample([c["id"] for c in customers if c["id"] not in keep], 100))
    print(
        f"==> Meanwhile in Dub: {len(changed)} customers changed (sales, cancellations, country, email, "
        f"name), {len(added)} added (30 imported, createdAt backdated), 100 deleted",
        flush=True,
    )


def query(sql: str) -> list[tuple]:
    """Rows from the warehouse, read directly with its driver."""
    if ENGINE == "postgres":
        import psycopg

        with psycopg.connect(os.environ["DUB_TEST_POSTGRES_URI"]) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []
    if ENGINE == "duckdb":
        import duckdb

        with duckdb.connect(str(WAREHOUSE)) as conn:
            return conn.execute(sql).fetchall()
    with sqlite3.connect(WAREHOUSE) as conn:
        return conn.execute(sql).fetchall()


def check_table(dub, yesterday: date) -> None:
    """The table against the emulator's ground truth; the history's versions."""
    rows = query(f"SELECT id, email, sales, sale_amount, country, deleted_at FROM {TABLE}")
    live = {r[0]: r[1:5] for r in rows if r[5] is None}
    truth = {c["id"]: (c["email"], c["sales"], c["saleAmount"], c["country"]) for c in dub.customers()}
    where = WAREHOUSE if ENGINE != "postgres" else "PostgreSQL"
    print(
        f"==> The table {TABLE} in {where}: {len(rows):,} rows, {len(live):,} live, "
        f"{len(rows) - len(live):,} marked deleted; equal to the emulator's customers: {live == truth}"
    )
    day = f"'{yesterday}'" if ENGINE == "sqlite" else f"DATE '{yesterday}'"
    (versions,) = query(f"SELECT COUNT(*) FROM {HISTORY}")[0]
    (then,) = query(
        f"SELECT COALESCE(SUM(sale_amount), 0) FROM {HISTORY} WHERE valid_from <= {day} "
        f"AND (valid_to IS NULL OR valid_to > {day}) AND NOT is_deleted"
    )[0]
    print(
        f"==> The history {HISTORY}: {versions:,} customer versions; the sum of saleAmount as of "
        f"{yesterday}, from the history alone: {then / 100:,.2f}"
    )


def main() -> None:
    today = date.today()
    if MARKER.exists() or os.environ["DUB_DEMO_TARGET"] == "emulator":
        if ENGINE == "postgres":  # emulator data from an earlier demo
            query(f"DROP TABLE IF EXISTS {TABLE}, {TABLE}_staging, {HISTORY}")
        for path in (WAREHOUSE, DATA / "customers"):  # emulator data from an earlier demo
            if path.is_file():
                path.unlink()
            elif path.is_dir():
                shutil.rmtree(path)
        MARKER.unlink(missing_ok=True)
    if os.environ["DUB_DEMO_TARGET"] == "dub":
        print("==> Dub: the dub_default connection (DUB_API_KEY, AIRFLOW_CONN_DUB_DEFAULT or the DB)")
        run_day(today)
        return
    from airflow_provider_dub.testing import DubEmulator

    count = int(os.environ.get("DUB_DEMO_CUSTOMERS", "25000"))
    with DubEmulator(customers=count, seed=1) as dub:
        os.environ["AIRFLOW_CONN_DUB_DEFAULT"] = dub.airflow_conn_json()
        os.environ.pop("AIRFLOW_CONN_DUB_WAREHOUSE", None)  # emulator customers stay in the demo's home
        if ENGINE == "duckdb":
            os.environ["AIRFLOW_CONN_DUB_WAREHOUSE"] = json.dumps({"conn_type": "duckdb", "host": str(WAREHOUSE)})
        elif ENGINE == "postgres":
            os.environ["AIRFLOW_CONN_DUB_WAREHOUSE"] = os.environ["DUB_TEST_POSTGRES_URI"]
        MARKER.touch()
        print(
            f"==> Dub: a local emulator at {dub.url} with {count:,} customers "
            "(no account; set DUB_API_KEY to load your workspace instead)"
        )
        if ENGINE == "sqlite":
            print(
                f"==> Warehouse: the DAG's default with no dub_warehouse connection, the SQLite file {WAREHOUSE}"
            )
        else:
            print(f"==> Warehouse: {ENGINE} as the dub_warehouse connection (DUB_DEMO_WAREHOUSE={ENGINE})")
        jobs = time.monotonic()
        run_day(today - timedelta(days=1))
        change_dub(dub, random.Random(1))
        run_day(today)
        print(f"==> Both runs: {time.monotonic() - jobs:.1f} s of wall time")
        check_table(dub, today - timedelta(days=1))


main()
print(f"==> Total wall time, set-up included: {time.time() - float(os.environ['DUB_DEMO_STARTED']):.0f} s")
PY
