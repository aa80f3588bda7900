"""Test DAG for writing customers to any URL (tests/integration/test_s3.py writes to S3 with it)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_dub.operators.dub import DubListCustomersOperator

with DAG(
    "test_dub_list_to_url",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    params={"url": "", "output_format": "", "expanded": False},
):
    DubListCustomersOperator(
        task_id="export",
        include_expanded_fields="{{ params.expanded }}",
        output_path="{{ params.url }}",
        output_format="{{ params.output_format }}",
    )
