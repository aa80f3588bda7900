"""DubListCustomersOperator with its hook patched: XCom, the XCom guard, files, assets, hook_params."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from airflow.sdk import Asset

from airflow_provider_dub.exceptions import DubXComLimitError
from airflow_provider_dub.operators.dub import DubListCustomersOperator

PAGES = [[{"id": "cus_1", "email": "a@example.com"}, {"id": "cus_2", "email": None}], [{"id": "cus_3"}]]
CONTEXT: Any = {"outlet_events": {}}


@pytest.fixture
def hook_class():
    """The DubHook class the operator builds its hook from, patched: it hands out PAGES."""
    with mock.patch("airflow_provider_dub.utils.mixins.DubHook") as hook_class:
        hook = hook_class.return_value
        hook.iter_customer_pages.side_effect = lambda **params: iter(PAGES)
        hook.request_count = 2
        hook.count_customers.return_value = 3
        yield hook_class


def test_customers_go_to_xcom_read_with_the_filters(hook_class) -> None:
    operator = DubListCustomersOperator(task_id="t", country="US", search="", max_records="10")
    assert operator.execute(CONTEXT) == [c for page in PAGES for c in page]
    hook_class.assert_called_once_with("dub_default")
    hook_class.return_value.iter_customer_pages.assert_called_once_with(
        country="US",
        include_expanded_fields=False,
        sort_by=None,
        sort_order=None,
        page_size=100,
        limit="10",
    )


def test_a_task_level_max_retry_seconds_reaches_dubhook(hook_class) -> None:
    operator = DubListCustomersOperator(
        task_id="t", dub_conn_id="dub_eu", hook_params={"max_retry_seconds": 7}
    )
    operator.execute(CONTEXT)
    hook_class.assert_called_once_with("dub_eu", max_retry_seconds=7)


def test_a_real_hook_gets_the_task_level_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "dub", "password": "dub_" + "k" * 24, "extra": {"max_retry_seconds": 300}}
    monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", json.dumps(conn))
    operator = DubListCustomersOperator(task_id="t", hook_params={"max_retry_seconds": 7})
    assert operator.hook.settings.max_retry_seconds == 7
    assert operator.hook.retry_policy.max_retry_seconds == 7


def test_more_than_max_xcom_records_fails_before_anything_is_pushed(hook_class) -> None:
    operator = DubListCustomersOperator(task_id="t", max_xcom_records=2)
    with pytest.raises(DubXComLimitError, match="max_xcom_records=2"):
        operator.execute(CONTEXT)


@pytest.mark.parametrize(("include", "expanded_columns"), [("yes", True), ("no", False), ("0", False)])
def test_a_file_and_its_summary_with_expanded_columns_as_asked(
    hook_class, tmp_path: Path, include: str, expanded_columns: bool
) -> None:
    path = tmp_path / "customers.csv"
    operator = DubListCustomersOperator(
        task_id="t", output_path=f"file://{path}", country="US", include_expanded_fields=include
    )
    summary = operator.execute(CONTEXT)
    assert hook_class.return_value.iter_customer_pages.call_args.kwargs["include_expanded_fields"] is (
        expanded_columns
    )
    header = next(csv.reader(path.open()))
    assert ("partner_id" in header) is expanded_columns
    assert summary["uri"] == f"file://{path}" and summary["records"] == 3 and summary["pages"] == 2
    assert summary["format"] == "csv" and summary["requests"] == 2
    assert summary["filters"] == {
        "country": "US",
        **({"include_expanded_fields": True} if expanded_columns else {}),
    }


def test_an_unknown_format_fails_before_the_read(hook_class, tmp_path: Path) -> None:
    operator = DubListCustomersOperator(
        task_id="t", output_path=f"file://{tmp_path}/c.txt", output_format="xml"
    )
    with pytest.raises(ValueError, match="output_format"):
        operator.execute(CONTEXT)
    assert not list(tmp_path.iterdir())


def test_a_fixed_output_path_is_the_outlet_asset_without_its_connection() -> None:
    fixed = DubListCustomersOperator(task_id="a", output_path="s3://aws_default@bucket/dub/customers.csv")
    templated = DubListCustomersOperator(task_id="b", output_path="s3://bucket/{{ ds }}/customers.csv")
    assert fixed.outlets == [Asset("s3://bucket/dub/customers.csv")]
    assert templated.outlets == []
