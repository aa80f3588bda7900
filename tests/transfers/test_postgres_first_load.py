"""PostgreSQL's first load: a missing table created in the load's transaction, keyed after COPY."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_dub.testing.store import CustomerStore
from airflow_provider_dub.transfers.dub_to_sql import DubCustomersToSqlOperator
from airflow_provider_dub.transfers.sql_dialects import DIALECTS, create_tables
from tests.services import service_setting
from tests.transfers.conftest import CONN_ID, Engine

DAY = "2026-03-04"
#: A table's definition as the catalog has it: columns, key, storage options.
DEFINITION = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid)
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = '{table}'::regclass AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL SELECT contype::text, pg_get_constraintdef(oid), NULL, NULL FROM pg_constraint
WHERE conrelid = '{table}'::regclass
UNION ALL SELECT 'options', array_to_string(reloptions, ','), NULL, NULL FROM pg_class
WHERE oid = '{table}'::regclass
"""


@pytest.fixture
def postgres(monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    uri = service_setting("DUB_TEST_POSTGRES_URI", "postgres.sh")
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", uri)
    engine = Engine("postgres", None)
    yield engine
    engine.drop()
    engine.table += "_made_before"
    engine.drop()


@pytest.fixture
def snapshot(tmp_path: Path) -> tuple[str, list[dict[str, Any]]]:
    customers = CustomerStore(120, 3).all_customers()
    path = tmp_path / "day1.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in customers))
    return f"file://{path}", customers


def load(table: str, snapshot: str) -> dict[str, Any]:
    operator = DubCustomersToSqlOperator(
        task_id="merge",
        snapshot_path=snapshot,
        sql_conn_id=CONN_ID,
        table=table,
        snapshot_date=DAY,
        batch_size=50,  # several COPY blocks
    )
    return operator.execute({})  # type: ignore[arg-type]


def definition(engine: Engine, table: str) -> list[tuple[Any, ...]]:
    return sorted(engine.query(DEFINITION.format(table=table)), key=repr)


def test_a_first_load_creates_the_table_create_tables_makes_and_the_same_rows(
    postgres: Engine, snapshot: tuple[str, list[dict[str, Any]]]
) -> None:
    url, customers = snapshot
    made_before = f"{postgres.table}_made_before"
    from airflow.sdk import BaseHook

    hook = BaseHook.get_connection(CONN_ID).get_hook()
    hook.run(create_tables(DIALECTS["postgres"], made_before))  # an empty table, made before the load

    fresh, old_path = load(postgres.table, url), load(made_before, url)

    assert fresh["inserted"] == old_path["inserted"] == len(customers)
    # The key, no leftover column defaults, fillfactor: as if create_tables had made it.
    assert definition(postgres, postgres.table) == definition(postgres, made_before)
    assert ("p", "PRIMARY KEY (id)", None, None) in definition(postgres, postgres.table)
    everything = "SELECT * FROM {} ORDER BY id"
    assert postgres.query(everything.format(postgres.table)) == postgres.query(everything.format(made_before))
    assert postgres.query(
        f"SELECT DISTINCT first_seen_date, updated_date, snapshot_date, deleted_at FROM {postgres.table}"
    ) == [(DAY, DAY, DAY, None)]


@pytest.mark.parametrize("fault", ["a line that is no JSON", "a customer twice"])
def test_a_failed_first_load_leaves_no_table_and_the_next_run_loads(
    postgres: Engine, snapshot: tuple[str, list[dict[str, Any]]], tmp_path: Path, fault: str
) -> None:
    url, customers = snapshot
    lines = [json.dumps(c) for c in customers]
    lines.insert(90, "{not json" if fault == "a line that is no JSON" else lines[3])
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")

    with pytest.raises(Exception, match=r"JSON|duplicate|unique"):
        load(postgres.table, f"file://{bad}")
    assert postgres.query(f"SELECT to_regclass('{postgres.table}')") == [(None,)]
    assert postgres.query(f"SELECT COUNT(*) FROM {postgres.table}_staging") == [(0,)]

    assert load(postgres.table, url)["inserted"] == len(customers)
    assert postgres.query(f"SELECT COUNT(*) FROM {postgres.table}") == [(len(customers),)]
