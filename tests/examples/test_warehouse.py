"""
The warehouse load (``dags/dub_customers_warehouse.py``, its merge ``DubCustomersToSqlOperator``) end
to end with a real Airflow, on SQLite (the DAG's default, no connection) and PostgreSQL. The other
engines, and the operator's own contract, are tested in tests/transfers.
"""

from __future__ import annotations

from pathlib import Path

import pendulum

from airflow_provider_dub.testing import DubEmulator
from tests.examples.conftest import COLUMNS, Warehouse
from tests.examples.runs import run_example
from tests.integration.airflow_runs import task_states, xcom_value

DAY1 = pendulum.datetime(2026, 3, 4, tz="UTC")
DAY2 = DAY1.add(days=1)
TASKS = {"snapshot": "success", "publish_snapshot": "success", "merge": "success"}


def load(day: pendulum.DateTime, storage: str, warehouse: Warehouse, **conf: object) -> tuple[dict, dict]:
    """One run of the warehouse load: its task states and the merge's result."""
    dr = run_example(
        "dub_customers_warehouse",
        conf={"storage": storage, "table": warehouse.table, **conf},
        logical_date=day,
    )
    return task_states(dr), xcom_value(dr, "merge")


def latest_snapshot_event() -> dict:
    """The extra of the newest event of the Asset ``dub_customers_snapshot``."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.scalars(
            select(AssetEvent.extra)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == "dub_customers_snapshot")
            .order_by(AssetEvent.id.desc())
        ).first()


def assert_mirrors(warehouse: Warehouse, dub: DubEmulator, day: str) -> dict[str, dict]:
    """Live rows equal Dub's ground truth field by field; every row has seen the day's snapshot."""
    rows = warehouse.rows()
    live = {i: r for i, r in rows.items() if r["deleted_at"] is None}
    truth = {c["id"]: c for c in dub.customers()}
    assert set(live) == set(truth)
    for customer_id, customer in truth.items():
        row = live[customer_id]
        for column, field in COLUMNS.items():
            if column == "name" and customer["name"] is None:  # anonymous: Dub shows a random name
                assert row["name"] and row["email"] is None
            else:
                assert row[column] == customer[field], (customer_id, column)
        assert row["snapshot_date"] == day
    return rows


def test_first_load_changes_next_day_rerun_and_backfill(
    dub: DubEmulator, storage: str, warehouse: Warehouse
) -> None:
    # Day 1: everything is new.
    history = f"{warehouse.table}_history"
    states, first = load(DAY1, storage, warehouse, history_table=history)
    assert states == TASKS
    total = len(dub.customers())
    assert first["records"] == first["inserted"] == total
    assert (first["updated"], first["deleted"], first["restored"]) == (0, 0, 0)
    snapshot = Path(storage.removeprefix("file://")) / "customers/snapshot_date=2026-03-04/customers.jsonl"
    assert first["snapshot"] == f"file://{snapshot}"
    assert len(snapshot.read_text().splitlines()) == total
    day1 = assert_mirrors(warehouse, dub, "2026-03-04")
    event = latest_snapshot_event()
    assert event == {
        "path": f"{storage}/customers/snapshot_date=2026-03-04/customers.jsonl",
        "uri": first["snapshot"],
        "records": total,
        "date": "2026-03-04",
    }
    anonymous = [c["id"] for c in dub.customers() if c["name"] is None]
    assert anonymous, "the emulator's anonymous customers get a new random name on every request"

    # Between the days: each tracked field changes on one customer, others come and go.
    with_email = [c for c in dub.customers() if c["email"] and c["sales"] == 0 and c["country"] != "FR"]
    changes = [
        {"sales": 2, "saleAmount": 4_900},  # first sales: Dub stamps firstSaleAt too
        {"saleAmount": with_email[1]["saleAmount"] + 1_000},
        {"firstSaleAt": "2026-03-04T10:00:00.000Z"},
        {"subscriptionCanceledAt": "2026-03-04T11:30:00.250Z"},
        {"name": "Renamed Customer"},
        {"email": "changed@example.com"},
        {"country": "FR"},
    ]
    for customer, fields in zip(with_email, changes, strict=False):
        dub.update_customer(customer["id"], **fields)
    changed = {c["id"] for c in with_email[: len(changes)]}
    no_email = next(c for c in dub.customers() if c["email"] is None and c["name"] is not None)
    dub.update_customer(no_email["id"], name="Renamed Without Email")  # written, not counted
    added = dub.add_customers(6) + dub.add_customers(3, imported=True)
    gone = [c["id"] for c in dub.customers() if c["id"] not in changed | {no_email["id"]}][:5]
    dub.delete_customers(gone)

    # Day 2: exactly those changes.
    states, second = load(DAY2, storage, warehouse, history_table=history)
    assert states == TASKS
    assert second["inserted"] == len(added) == 9
    assert second["updated"] == len(changed) == 7
    assert (second["deleted"], second["restored"]) == (5, 0)
    assert second["unchanged"] == total - len(changed) - 5
    day2 = assert_mirrors(warehouse, dub, "2026-03-05")
    assert day2[no_email["id"]]["name"] == "Renamed Without Email"
    for customer_id in gone:
        assert day2[customer_id]["deleted_at"] == "2026-03-05"
        assert {
            k: v
            for k, v in day2[customer_id].items()
            if k not in ("deleted_at", "updated_date", "snapshot_date")
        } == {
            k: v
            for k, v in day1[customer_id].items()
            if k not in ("deleted_at", "updated_date", "snapshot_date")
        }
    updated_on_day2 = {i for i, r in day2.items() if r["updated_date"] == "2026-03-05"}
    assert updated_on_day2 == changed | {c["id"] for c in added} | set(gone)
    assert not set(anonymous) & updated_on_day2  # a new random name every day is no update
    assert all(day2[c["id"]]["first_seen_date"] == "2026-03-05" for c in added)

    # Re-run of day 2: nothing to do, the same table.
    states, rerun = load(DAY2, storage, warehouse, history_table=history)
    assert states == TASKS
    assert (rerun["inserted"], rerun["updated"], rerun["deleted"]) == (0, 0, 0)
    again = assert_mirrors(warehouse, dub, "2026-03-05")
    ignore_names = {c["id"] for c in dub.customers() if c["name"] is None}
    assert _without(again, ignore_names) == _without(day2, ignore_names)

    # Backfill of day 1 after day 2: day 2's newer state stays.
    states, backfill = load(DAY1, storage, warehouse, history_table=history)
    assert states == TASKS
    assert backfill["kept_newer"] == len(dub.customers())
    assert (backfill["inserted"], backfill["updated"], backfill["deleted"]) == (0, 0, 0)
    assert _without(warehouse.rows(), ignore_names) == _without(day2, ignore_names)

    # The history: each customer's sale_amount on day 1, after day 2, its re-run and the backfill.
    date = "'2026-03-04'" if warehouse.kind == "sqlite" else "DATE '2026-03-04'"
    as_of = warehouse.query(
        f"SELECT id, sale_amount FROM {history} WHERE valid_from <= {date} "
        f"AND (valid_to IS NULL OR valid_to > {date}) AND NOT is_deleted"
    )
    warehouse.query(f"DROP TABLE {history}")
    assert dict(as_of) == {i: row["sale_amount"] for i, row in day1.items()}


def _without(rows: dict[str, dict], anonymous: set[str]) -> dict[str, dict]:
    """Rows with the random names of anonymous customers blanked."""
    return {i: {**r, "name": None} if i in anonymous else r for i, r in rows.items()}


def test_too_many_deletions_fail_and_a_customer_back_is_restored(
    dub: DubEmulator, storage: str, warehouse: Warehouse
) -> None:
    load(DAY1, storage, warehouse)
    before = warehouse.rows()
    dub.delete_random(int(len(before) * 0.6), rng_seed=1)
    states, result = load(DAY2, storage, warehouse)
    assert states == {**TASKS, "merge": "failed"}
    assert result is None
    assert warehouse.rows() == before
    if warehouse.kind == "sqlite":  # the load's own temporary table: nothing of it in the file
        assert warehouse.query("SELECT name FROM sqlite_master WHERE name LIKE '%staging'") == []
    else:
        assert warehouse.query(f"SELECT COUNT(*) FROM {warehouse.table}_staging") == [(0,)]
    # the operator's decision: Dub really lost them
    states, result = load(DAY2, storage, warehouse, max_deleted_share=1)
    assert states == TASKS
    assert result["deleted"] == int(len(before) * 0.6)
    assert_mirrors(warehouse, dub, "2026-03-05")

    # A customer marked deleted (as if one day's snapshot had missed it) is back the next day.
    back = sorted(dub.customer_ids())[0]
    warehouse.query(f"UPDATE {warehouse.table} SET deleted_at = '2026-03-05' WHERE id = '{back}'")
    states, result = load(DAY2.add(days=1), storage, warehouse)
    assert states == TASKS
    assert (result["restored"], result["inserted"], result["updated"], result["deleted"]) == (1, 0, 0, 0)
    rows = assert_mirrors(warehouse, dub, "2026-03-06")
    assert rows[back]["updated_date"] == "2026-03-06"
