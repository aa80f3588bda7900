"""
Test DAGs of ``tests/reliability``: every argument of the operator and the sensor comes from the
run's params, so a run can render any of them to a bad value, or point the export anywhere.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_dub.operators.dub import DubListCustomersOperator
from airflow_provider_dub.sensors.dub import DubNewCustomersSensor

START = pendulum.datetime(2026, 1, 1, tz="UTC")


def param(name: str) -> str:
    """The template that renders the run's param ``name``."""
    return "{{ params." + name + " }}"


FILTERS = ("email", "external_id", "search", "country", "link_id", "program_id", "partner_id")

with DAG(
    "test_dub_reliability_list",
    schedule=None,
    start_date=START,
    params={
        "dub_conn_id": "dub_default",
        **dict.fromkeys(FILTERS, ""),
        "include_expanded_fields": False,
        "sort_by": "",
        "sort_order": "",
        "page_size": 100,
        "max_records": "",
        "max_xcom_records": 1000,
        "output_path": "",
        "output_conn_id": "",
        "output_format": "",
    },
):
    DubListCustomersOperator(
        task_id="list",
        dub_conn_id=param("dub_conn_id"),
        **{name: param(name) for name in FILTERS},
        include_expanded_fields=param("include_expanded_fields"),
        sort_by=param("sort_by"),
        sort_order=param("sort_order"),
        page_size=param("page_size"),
        max_records=param("max_records"),
        max_xcom_records=param("max_xcom_records"),
        output_path=param("output_path"),
        output_conn_id=param("output_conn_id"),
        output_format=param("output_format"),
    )

with DAG(
    "test_dub_reliability_sensor",
    schedule=None,
    start_date=START,
    params={
        "dub_conn_id": "dub_default",
        **dict.fromkeys(FILTERS, ""),
        "include_expanded_fields": False,
        "since": "",
        "min_new": 1,
        "max_xcom_records": 1000,
        "output_path": "",
        "output_conn_id": "",
        "output_format": "",
    },
):
    DubNewCustomersSensor(
        task_id="wait",
        dub_conn_id=param("dub_conn_id"),
        **{name: param(name) for name in FILTERS},
        include_expanded_fields=param("include_expanded_fields"),
        since=param("since"),
        min_new=param("min_new"),
        max_xcom_records=param("max_xcom_records"),
        output_path=param("output_path"),
        output_conn_id=param("output_conn_id"),
        output_format=param("output_format"),
        poke_interval=0.2,
        timeout=2,
        soft_fail=True,
    )
