"""Test DAGs for DubListCustomersOperator; every argument comes from the run's params (templated)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, AssetAlias

from airflow_provider_dub.operators.dub import DubListCustomersOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG(
    "test_dub_list_to_xcom",
    schedule=None,
    start_date=START,
    params={"country": "", "search": "", "max_records": "", "max_xcom_records": 1000, "sort_by": ""},
):
    DubListCustomersOperator(
        task_id="list",
        country="{{ params.country }}",
        search="{{ params.search }}",
        sort_by="{{ params.sort_by }}",
        max_records="{{ params.max_records }}",
        max_xcom_records="{{ params.max_xcom_records }}",
    )

with DAG(
    "test_dub_list_to_file",
    schedule=None,
    start_date=START,
    params={"base": "/tmp", "name": "customers.jsonl", "output_format": "", "expanded": False, "country": ""},
):
    DubListCustomersOperator(
        task_id="export",
        country="{{ params.country }}",
        include_expanded_fields="{{ params.expanded }}",
        output_path="file://{{ params.base }}/{{ ds }}/{{ params.name }}",
        output_format="{{ params.output_format }}",
        outlets=[AssetAlias("test-dub-customers-export")],
    )
