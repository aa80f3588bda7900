"""
The warehouse load's benchmark: N customers merged into each engine that runs here.

For each engine (SQLite file, DuckDB file, PostgreSQL at ``DUB_TEST_POSTGRES_URI`` if set), three
days through ``DubCustomersToSqlOperator``: the first load, an unchanged day, a day with 1% of the
customers changed; each in its own process (wall seconds, peak RSS from VmHWM). Beside it, on SQLite
and PostgreSQL, the same three days through the merge the example DAG had before the operator
(``merge_snapshot`` of ``dags/dub_customers_warehouse.py`` at ``BEFORE``, read from git): both in one
run, on the same machine at the same time. The snapshot files
are generated directly as JSON Lines in Dub's shape (no HTTP). A first load of a tenth of the
customers shows memory does not grow with their number. Prints a markdown table.

Usage: ``python -m benchmarks.warehouse [--customers N] [--engines sqlite,duckdb,postgres]
[--snapshots FOLDER]``: with ``--snapshots``, the snapshot files are generated once into that folder
and reused by later runs (a million customers take about a minute to generate); the SQLite and
DuckDB files are made anew each run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DAYS = (
    ("first load", "2026-03-04", "day1"),
    ("unchanged day", "2026-03-05", "day1"),
    ("1% changed", "2026-03-06", "day3"),
)
#: The last commit whose example DAG merged by itself (INSERT ... ON CONFLICT, json.loads per line).
BEFORE = "52f84f0"
COUNTRIES = ("US", "GB", "DE", "FR", "IN", "BR", "CA", "AU", "JP", None)


def customer(rng: random.Random, index: int) -> dict[str, Any]:
    """One customer as Dub's ``GET /customers`` gives it (some anonymous, some without email)."""
    anonymous = index % 50 == 0
    paying = rng.random() < 0.4
    sales = rng.randint(1, 12) if paying else 0
    created = 1_672_531_200 + rng.randrange(100_000_000)

    def iso(seconds: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rng.randrange(1000):03d}Z"

    return {
        "id": f"cus_{index:08d}{rng.randrange(16**16):016x}",
        "name": f"Anonymous {rng.randrange(10**6)}" if anonymous else f"Customer {index}",
        "email": None if anonymous or index % 7 == 0 else f"customer{index}@example.com",
        "avatar": None if index % 3 else f"https://www.gravatar.com/avatar/{index:032x}",
        "externalId": f"ext_{index}",
        "stripeCustomerId": f"cus_{index:014d}" if paying else None,
        "country": COUNTRIES[index % len(COUNTRIES)],
        "sales": sales,
        "saleAmount": sales * rng.choice((900, 1900, 2900, 4900)),
        "createdAt": iso(created),
        "firstSaleAt": iso(created + 86_400) if paying else None,
        "subscriptionCanceledAt": iso(created + 864_000) if paying and index % 4 == 0 else None,
    }


def write_snapshots(folder: Path, count: int) -> None:
    """``day1.jsonl`` and ``day3.jsonl`` (1% of the customers with one more sale), one pass."""
    rng = random.Random(1)
    with (folder / "day1.jsonl").open("w") as day1, (folder / "day3.jsonl").open("w") as day3:
        for index in range(count):
            row = customer(rng, index)
            day1.write(json.dumps(row, separators=(",", ":")) + "\n")
            if index % 100 == 0:
                row["sales"] += 1
                row["saleAmount"] += 2_900
            day3.write(json.dumps(row, separators=(",", ":")) + "\n")


def run_one(engine: str, folder: str, day: str, snapshot: str, table: str) -> None:
    """In a process of its own: one load; prints seconds and peak RSS as JSON."""
    engine, _, before = engine.partition(":")
    if engine == "sqlite":
        conn = json.dumps({"conn_type": "sqlite", "host": f"{folder}/warehouse.db"})
    elif engine == "duckdb":
        conn = json.dumps({"conn_type": "duckdb", "host": f"{folder}/warehouse.duckdb"})
    else:
        conn = os.environ["DUB_TEST_POSTGRES_URI"]
    os.environ["AIRFLOW_CONN_DUB_BENCH_WAREHOUSE"] = conn
    from airflow_provider_dub.transfers.dub_to_sql import DubCustomersToSqlOperator

    operator = DubCustomersToSqlOperator(
        task_id="merge",
        snapshot_path=f"file://{folder}/{snapshot}.jsonl",
        sql_conn_id="dub_bench_warehouse",
        table=table,
        snapshot_date=day,
    )
    # Imports (Airflow, Arrow, the driver) are the process's start-up, not the load: done first.
    # So is the first storage path opened: Airflow then loads its filesystems (boto3 among them).
    import pyarrow.csv
    import pyarrow.json  # noqa: F401
    from airflow.sdk import BaseHook, ObjectStoragePath

    hook = BaseHook.get_connection("dub_bench_warehouse").get_hook()
    ObjectStoragePath(f"file://{folder}/{snapshot}.jsonl").open("rb").close()
    if before:
        merge_snapshot = _before_merge(Path(folder))
        started = time.monotonic()
        result = merge_snapshot(hook, ObjectStoragePath(f"file://{folder}/{snapshot}.jsonl"), table, day, 0.5)
    else:
        started = time.monotonic()
        result = operator.execute({})  # type: ignore[arg-type]
    seconds = time.monotonic() - started
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "result": result}))


def _before_merge(folder: Path) -> Any:
    """``merge_snapshot`` of the example DAG at ``BEFORE``."""
    import importlib.util

    source = folder / "dub_customers_warehouse_before.py"
    if not source.exists():
        text = subprocess.run(
            ["git", "show", f"{BEFORE}:dags/dub_customers_warehouse.py"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        source.write_text(text)
    spec = importlib.util.spec_from_file_location("dub_customers_warehouse_before", source)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.merge_snapshot


def measure(engine: str, folder: Path, day: str, snapshot: str, table: str) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, "-m", "benchmarks.warehouse", "--one", engine, str(folder), day, snapshot, table],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def drop_postgres(table: str) -> None:
    import psycopg

    with psycopg.connect(os.environ["DUB_TEST_POSTGRES_URI"]) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}, {table}_staging")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--engines", default="sqlite,duckdb,postgres,sqlite:before,postgres:before")
    parser.add_argument("--snapshots", help="a folder to keep the generated snapshots in, reused")
    parser.add_argument("--one", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(*args.one)
        return
    engines = [
        e
        for e in args.engines.split(",")
        if not e.startswith("postgres") or os.environ.get("DUB_TEST_POSTGRES_URI")
    ]
    with tempfile.TemporaryDirectory(prefix="dub-warehouse-bench-") as name:
        folder = Path(args.snapshots or name) / str(args.customers)
        small = folder / "small"
        ready = folder / "ready"  # written last: the files of an interrupted generation are not reused
        if not ready.exists():
            small.mkdir(parents=True, exist_ok=True)
            started = time.monotonic()
            write_snapshots(folder, args.customers)
            write_snapshots(small, args.customers // 10)
            ready.touch()
            print(f"Generated the snapshots in {time.monotonic() - started:.0f} s", file=sys.stderr)
        for database in (f / f"warehouse.{e}" for f in (folder, small) for e in ("db", "duckdb")):
            database.unlink(missing_ok=True)  # each run's engines start empty
        rows = []
        for engine in engines:
            table = "bench_" + engine.replace(":", "_")
            if engine.startswith("postgres"):
                drop_postgres(table)
            figures = []
            for label, day, snapshot in DAYS:
                figure = measure(engine, folder, day, snapshot, table)
                print(
                    f"{engine} {label}: {figure['seconds']:.1f} s, {figure['peak_rss_mb']:.0f} MB",
                    file=sys.stderr,
                )
                figures.append(figure)
            if engine.startswith("postgres"):
                drop_postgres(table)
            tenth = measure(engine, small, DAYS[0][1], "day1", f"{table}_small")
            if engine.startswith("postgres"):
                drop_postgres(f"{table}_small")
            rows.append((engine, figures, tenth))
    print(f"\n#### Warehouse load: {args.customers:,} customers (seconds; peak RSS of the task's process)\n")
    print("| engine | first load | unchanged day | 1% changed | first load of a tenth |")
    print("| --- | --- | --- | --- | --- |")
    for engine, figures, tenth in rows:
        cells = [f"{f['seconds']:.1f} s, {f['peak_rss_mb']:.0f} MB" for f in figures]
        print(f"| {engine} | {' | '.join(cells)} | {tenth['seconds']:.1f} s, {tenth['peak_rss_mb']:.0f} MB |")


if __name__ == "__main__":
    main()
