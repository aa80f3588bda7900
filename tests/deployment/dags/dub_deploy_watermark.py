"""
The deployment tests' DAG: a new-customers sensor on ``@continuous``, so a scheduled run is always
waiting, with manual runs triggered in between.

Its settings come from the environment the test starts Airflow with: ``DUB_DEPLOY_START`` (the
start date, Unix seconds: customers created before it are not new on the first run) and
``DUB_DEPLOY_DEFERRABLE`` (``1``: the sensor waits in the triggerer).
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import dag

from airflow_provider_dub.sensors.dub import DubNewCustomersSensor


@dag(
    schedule="@continuous",
    start_date=pendulum.from_timestamp(int(os.environ.get("DUB_DEPLOY_START", "1767225600"))),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=False,
)
def dub_deploy_watermark() -> None:
    DubNewCustomersSensor(
        task_id="wait",
        poke_interval=1,
        timeout=300,
        deferrable=os.environ.get("DUB_DEPLOY_DEFERRABLE") == "1",
    )


dub_deploy_watermark()
