"""A test DAG whose run OpenLineage observes (when its provider is installed)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_dub.operators.dub import DubListCustomersOperator

with DAG(
    "test_dub_lineage",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    params={"base": "/tmp"},
):
    DubListCustomersOperator(task_id="export", output_path="file://{{ params.base }}/lineage/customers.jsonl")
