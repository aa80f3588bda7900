"""DubCustomersToSqlOperator end to end on every engine that runs here: the merge, its guard, history."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_dub.exceptions import DubDeletedShareError
from airflow_provider_dub.testing.store import CustomerStore
from airflow_provider_dub.transfers.dub_to_sql import DubCustomersToSqlOperator
from tests.transfers.conftest import CONN_ID, Engine

DAY1, DAY2, DAY3 = "2026-03-04", "2026-03-05", "2026-03-06"
DATA = "id, name, email, country, sales, sale_amount, first_sale_at, subscription_canceled_at"


def write_snapshot(path: Path, customers: list[dict[str, Any]], seed: int) -> str:
    """A JSON Lines snapshot as Dub gives it: anonymous customers get a new random name each read."""
    rng = random.Random(seed)
    with path.open("w") as out:
        for customer in customers:
            shown = dict(customer)
            if shown["name"] is None:
                shown["name"] = f"Anonymous {rng.randrange(10**6)}"
            out.write(json.dumps(shown) + "\n")
    return f"file://{path}"


def load(engine: Engine, snapshot: str, day: str, **kwargs: Any) -> dict[str, Any]:
    operator = DubCustomersToSqlOperator(
        task_id="merge",
        snapshot_path=snapshot,
        sql_conn_id=CONN_ID,
        table=engine.table,
        history_table=engine.history,
        snapshot_date=day,
        merge_syntax=engine.merge_syntax,
        batch_size=50,  # several batches
        **kwargs,
    )
    return operator.execute({})  # type: ignore[arg-type]


def counts(result: dict[str, Any]) -> tuple[int, ...]:
    return tuple(result[k] for k in ("inserted", "updated", "deleted", "restored", "unchanged", "kept_newer"))


def table(engine: Engine) -> dict[str, tuple[Any, ...]]:
    rows = engine.query(
        f"SELECT {DATA}, first_seen_date, updated_date, snapshot_date, deleted_at FROM {engine.table}"
    )
    return {row[0]: row for row in rows}


def as_of(engine: Engine, day: str) -> dict[str, int]:
    """The documented history query: each customer's sale_amount on a past date."""
    date = "'" + day + "'" if engine.name == "sqlite" else f"DATE '{day}'"
    rows = engine.query(
        f"SELECT id, sale_amount FROM {engine.history} WHERE valid_from <= {date} "
        f"AND (valid_to IS NULL OR valid_to > {date}) AND NOT is_deleted"
    )
    return dict(rows)  # type: ignore[arg-type]


def test_merge_rerun_backfill_guard_restore_and_history(engine: Engine, tmp_path: Path) -> None:
    day1 = CustomerStore(120, 3).all_customers()
    snapshot1 = write_snapshot(tmp_path / "day1.jsonl", day1, seed=1)
    first = load(engine, snapshot1, DAY1)
    assert counts(first) == (120, 0, 0, 0, 0, 0) and first["records"] == 120
    assert len(table(engine)) == 120

    # Day 2: one change per tracked field, an anonymous customer's new random name (no update), a
    # named customer without email renamed (written, not counted), 3 new customers, 4 deleted.
    day2 = copy.deepcopy(day1)
    emails = [c for c in day2 if c["email"] and c["sales"] == 0 and c["country"] != "FR"]
    changes = [
        {"sales": 2, "saleAmount": 4_900, "firstSaleAt": "2026-03-04T10:00:00.000Z"},
        {"subscriptionCanceledAt": "2026-03-04T11:30:00.250Z"},
        {"name": "Renamed Customer"},
        {"email": "changed@example.com"},
        {"country": "FR"},
    ]
    for customer, fields in zip(emails, changes, strict=False):
        customer.update(fields)
    changed = {c["id"] for c in emails[: len(changes)]}
    no_email = next(c for c in day2 if c["email"] is None and c["name"] is not None)
    no_email["name"] = "Renamed Without Email"
    added = CustomerStore(3, 99).all_customers()
    gone = [c["id"] for c in day2 if c["id"] not in changed | {no_email["id"]}][:4]
    day2 = [c for c in day2 if c["id"] not in gone] + added
    snapshot2 = write_snapshot(tmp_path / "day2.jsonl", day2, seed=2)
    second = load(engine, snapshot2, DAY2)
    assert counts(second) == (3, len(changes), 4, 0, 120 - len(changes) - 4, 0)
    rows = table(engine)
    assert rows[no_email["id"]][1] == "Renamed Without Email"
    assert {i for i, r in rows.items() if r[-3] == DAY2} == changed | {c["id"] for c in added} | set(gone)
    assert {i for i, r in rows.items() if r[-1] is not None} == set(gone)
    changed_customer = next(c for c in day2 if c["id"] == emails[0]["id"])
    assert rows[changed_customer["id"]][4:7] == (2, 4_900, "2026-03-04T10:00:00.000Z")
    history = engine.query(f"SELECT * FROM {engine.history}")

    # A re-run of day 2 changes nothing; so does a backfill of day 1 after day 2.
    assert counts(load(engine, snapshot2, DAY2))[:4] == (0, 0, 0, 0)
    backfill = load(engine, snapshot1, DAY1)
    assert counts(backfill) == (0, 0, 0, 0, 0, 120)
    assert _named(table(engine)) == _named(rows)
    assert sorted(engine.query(f"SELECT * FROM {engine.history}"), key=repr) == sorted(history, key=repr)

    # Day 3: a snapshot missing 70% of the live customers fails and changes nothing...
    truncated = write_snapshot(tmp_path / "day3-truncated.jsonl", day2[:35], seed=3)
    with pytest.raises(DubDeletedShareError, match=r"max_deleted_share=0\.5\. Nothing changed"):
        load(engine, truncated, DAY3)
    assert _named(table(engine)) == _named(rows)
    if engine.name == "sqlite":  # the load's own temporary table: nothing of it in the file
        assert engine.query("SELECT name FROM sqlite_master WHERE name LIKE '%staging'") == []
    else:
        assert engine.query(f"SELECT COUNT(*) FROM {engine.table}_staging") == [(0,)]
    # ... and a customer deleted on day 2 who is back on day 3 is restored.
    back = next(c for c in day1 if c["id"] == gone[0])
    snapshot3 = write_snapshot(tmp_path / "day3.jsonl", [*day2, back], seed=4)
    third = load(engine, snapshot3, DAY3)
    assert counts(third)[:4] == (0, 0, 0, 1)
    assert table(engine)[back["id"]][-3:] == (DAY3, DAY3, None)

    # History: each customer's sale_amount on any past date, deleted ones absent while deleted.
    assert as_of(engine, DAY1) == {c["id"]: c["saleAmount"] for c in day1}
    assert as_of(engine, DAY2) == {c["id"]: c["saleAmount"] for c in day2}
    assert as_of(engine, DAY3) == {c["id"]: c["saleAmount"] for c in [*day2, back]}
    assert as_of(engine, "2026-03-03") == {}
    versions = engine.query(f"SELECT COUNT(*) FROM {engine.history} WHERE id = '{gone[0]}'")
    assert versions == [(3,)]  # live from day 1, deleted on day 2, restored on day 3


def _named(rows: dict[str, tuple[Any, ...]]) -> dict[str, tuple[Any, ...]]:
    """Rows without the random names of anonymous customers (the only thing a re-read changes)."""
    return {i: (r[0], None if r[2] is None else r[1], *r[2:]) for i, r in rows.items()}
