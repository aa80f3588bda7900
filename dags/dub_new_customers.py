"""
The new-customers path: wait for new Dub customers in the triggerer, then process just those.

``wait_for_new_customers`` (DubNewCustomersSensor, deferrable) succeeds once at least ``min_new``
customers are new since its last successful run (Dub ids are time-ordered, so imported customers
with a backdated ``createdAt`` count as new when they appear). While it waits, no worker slot is
held. With nothing new within ``WAIT_TIMEOUT`` the run is skipped and the next one picks up from
the same point: no customer is missed or processed twice.

``welcome`` processes the new customers, and only them: it writes one welcome message per customer
with an email to an outbox file (``<storage>/welcome-outbox/<run>.jsonl``) that a mailer would send.
Up to ``max_xcom_records`` new customers come through XCom; more are written by the sensor to
``<storage>/new-customers/<run>.jsonl`` and read from there. ``<run>`` is the run id with ``-``
for ``:`` and without the UTC offset: ``scheduled__2026-11-30T19-00-00``,
``manual__2026-11-30T19-12-34.567890``. A run retried or cleared writes the same files again.

Configuration, as DAG params (change the defaults below, or per run with "Trigger DAG w/ config"):

* ``dub_conn_id`` (``dub_default``): the Dub connection;
* ``min_new`` (1): how many new customers are worth a run;
* ``max_xcom_records`` (1000): above this many, new customers go through a file;
* ``storage`` (``file://$AIRFLOW_HOME/dub-data``): any ``ObjectStoragePath`` URL, with its connection
  id in it if needed (``s3://aws_default@bucket/dub``).

Waiting: ``POLL_INTERVAL`` between checks, ``WAIT_TIMEOUT`` in all (module constants: a sensor's
timing is not templated).

One run at a time (``max_active_runs=1``): two runs waiting at once would both report the same new
customers. So a run triggered by hand while a run is waiting (unpausing the DAG starts one at once)
is queued until that run ends: as soon as new customers arrive (it checks every ``POLL_INTERVAL``)
or after ``WAIT_TIMEOUT``. No manual run is needed for new customers to be processed: the waiting
run takes them. To have it check right away, clear its ``wait_for_new_customers`` task: it checks
once on a worker, then waits again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import ObjectStoragePath, Param, dag, task

from airflow_provider_dub.sensors.dub import DubNewCustomersSensor

# [START dub_new_customers]
AIRFLOW_HOME = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
POLL_INTERVAL = timedelta(minutes=5)
WAIT_TIMEOUT = timedelta(minutes=50)
# The run id as a file name: 'scheduled__2026-11-30T19:00:00+00:00' -> 'scheduled__2026-11-30T19-00-00'.
RUN_NAME = "{{ run_id | replace(':', '-') | replace('+00-00', '') | replace('+', '-') }}"
NEW_PATH = "{{ params.storage }}/new-customers/" + RUN_NAME + ".jsonl"


@dag(
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["dub", "example"],
    params={
        "dub_conn_id": Param("dub_default", type="string"),
        "min_new": Param(1, type="integer", minimum=1),
        "max_xcom_records": Param(1000, type="integer", minimum=0),
        "storage": Param(f"file://{AIRFLOW_HOME}/dub-data", type="string"),
    },
)
def dub_new_customers() -> None:
    """Wait (deferred) for new Dub customers, then write a welcome message for each."""
    new_customers = DubNewCustomersSensor(
        task_id="wait_for_new_customers",
        dub_conn_id="{{ params.dub_conn_id }}",
        min_new="{{ params.min_new }}",
        max_xcom_records="{{ params.max_xcom_records }}",
        output_path=NEW_PATH,
        deferrable=True,
        poke_interval=POLL_INTERVAL.total_seconds(),
        timeout=WAIT_TIMEOUT.total_seconds(),
        soft_fail=True,  # nothing new: skipped, not failed
    )

    @task
    def welcome(new: dict[str, Any], new_path: str, outbox: str) -> dict[str, Any]:
        """One welcome message per new customer with an email, streamed to an outbox file."""

        def customers() -> Iterator[dict[str, Any]]:
            if not new["uri"]:
                yield from new["customers"]
                return
            with ObjectStoragePath(new_path).open("r", encoding="utf-8") as lines:  # many: in a file
                yield from (json.loads(line) for line in iter(lines.readline, "") if line.strip())

        count = messages = 0
        path = ObjectStoragePath(outbox)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            for customer in customers():
                count += 1
                if customer["email"]:
                    message = {"customer_id": customer["id"], "to": customer["email"]}
                    out.write(json.dumps({**message, "subject": f"Welcome, {customer['name']}!"}) + "\n")
                    messages += 1
        return {"new_customers": count, "welcome_messages": messages, "outbox": outbox}

    welcome(new_customers.output, NEW_PATH, "{{ params.storage }}/welcome-outbox/" + RUN_NAME + ".jsonl")


dub_new_customers()
# [END dub_new_customers]
