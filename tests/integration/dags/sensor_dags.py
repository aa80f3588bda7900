"""Test DAGs for DubNewCustomersSensor in its three modes; arguments come from the run's params."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_dub.sensors.dub import DubNewCustomersSensor

PARAMS = {"since": "", "min_new": 1, "cap": 1000, "output_path": "", "country": ""}

for mode in ("poke", "reschedule", "deferrable", "deferrable_strict"):
    with DAG(
        f"test_dub_new_customers_{mode}",
        schedule="@daily",
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        params=PARAMS,
    ):
        DubNewCustomersSensor(
            task_id="wait_for_new",
            country="{{ params.country }}",
            since="{{ params.since }}",
            min_new="{{ params.min_new }}",
            max_xcom_records="{{ params.cap }}",
            output_path="{{ params.output_path }}",
            mode="reschedule" if mode == "reschedule" else "poke",
            deferrable=mode.startswith("deferrable"),
            poke_interval=0.5,
            timeout=6,
            soft_fail=mode != "deferrable_strict",
        )
