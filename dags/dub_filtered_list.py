"""
A filtered list of Dub customers, summarised by a downstream task, on a workspace of any size.

``list_customers`` reads the customers matching the filters (every one, exactly once, whatever the
number of pages) and streams them to a JSON Lines file in object storage,
``<storage>/filtered/<run>.jsonl``; XCom gets only a small summary (the file's ``path``, ``records``,
...). ``top_customers`` streams that file once and summarises it: how many customers, how many have
paid, their revenue and the five biggest spenders. Memory holds one page of customers in the first
task and one customer (and the top five) in the second, so the default filter, every US customer,
works alike for 50 customers or 500,000.

Why a file and not XCom: XCom lives in Airflow's metadata database and suits small values. The
operator can return the customers themselves to XCom (leave out ``output_path``), but then more than
``max_xcom_records`` (1,000 by default) fail the task: use that only for lists known to stay small,
such as a search for one email.

Configuration, as DAG params (change the defaults below, or per run with "Trigger DAG w/ config"):

* ``dub_conn_id`` (``dub_default``): the Dub connection;
* ``country`` (``US``): ISO 3166-1 alpha-2 code; empty for every country;
* ``search`` (empty): whole words of the name or email; with ``@``, an exact email;
* ``storage`` (``file://$AIRFLOW_HOME/dub-data``): any ``ObjectStoragePath`` URL, with its connection
  id in it if needed (``s3://aws_default@bucket/dub``).
"""

from __future__ import annotations

import heapq
import json
import os
from typing import Any

import pendulum
from airflow.sdk import ObjectStoragePath, Param, dag, task

from airflow_provider_dub.operators.dub import DubListCustomersOperator

# [START dub_filtered_list]
AIRFLOW_HOME = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
RUN_NAME = "{{ run_id | replace(':', '') | replace('+', '') }}"


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    tags=["dub", "example"],
    params={
        "dub_conn_id": Param("dub_default", type="string"),
        "country": Param("US", type="string"),
        "search": Param("", type="string"),
        "storage": Param(f"file://{AIRFLOW_HOME}/dub-data", type="string"),
    },
)
def dub_filtered_list() -> None:
    """The customers of one country (or matching a search), summarised downstream."""
    customers = DubListCustomersOperator(
        task_id="list_customers",
        dub_conn_id="{{ params.dub_conn_id }}",
        country="{{ params.country }}",
        search="{{ params.search }}",
        output_path="{{ params.storage }}/filtered/" + RUN_NAME + ".jsonl",
    )

    @task(show_return_value_in_logs=False)  # it holds customer names: not for the task log
    def top_customers(export: dict[str, Any]) -> dict[str, Any]:
        """How many customers, how many paid, their revenue (cents) and the five biggest spenders."""
        count = paying = revenue = 0
        top: list[tuple[int, str, str | None]] = []  # a heap of the five biggest (saleAmount, id, name)
        with ObjectStoragePath(export["path"]).open("r", encoding="utf-8") as lines:
            for line in iter(lines.readline, ""):  # Airflow 3.1: the file object is not iterable
                if not line.strip():
                    continue
                customer = json.loads(line)
                count += 1
                if customer["saleAmount"] > 0:
                    paying += 1
                    revenue += customer["saleAmount"]
                    item = (customer["saleAmount"], customer["id"], customer["name"])
                    if len(top) < 5:
                        heapq.heappush(top, item)
                    else:
                        heapq.heappushpop(top, item)
        return {
            "customers": count,
            "paying": paying,
            "revenue": revenue,
            "top": [
                {"id": i, "name": name, "saleAmount": amount} for amount, i, name in sorted(top, reverse=True)
            ],
        }

    top_customers(customers.output)


dub_filtered_list()
# [END dub_filtered_list]
