"""
A filtered list of Dub customers to XCom, used by a downstream task.

``list_customers`` reads the customers matching the filters (every one, exactly once, whatever the
number of pages) and returns them to XCom; ``top_customers`` summarises them: how many, how many have
paid, their revenue and the five biggest spenders. XCom suits small results: more than
``max_xcom_records`` customers fail the task before anything is pushed (write them to a file instead,
as ``dub_customers_warehouse`` does).

Configuration, as DAG params (change the defaults below, or per run with "Trigger DAG w/ config"):

* ``dub_conn_id`` (``dub_default``): the Dub connection;
* ``country`` (``US``): ISO 3166-1 alpha-2 code; empty for every country;
* ``search`` (empty): whole words of the name or email; with ``@``, an exact email;
* ``max_xcom_records`` (1000): the most customers the list may hold.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_dub.operators.dub import DubListCustomersOperator


# [START dub_filtered_list]
@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    tags=["dub", "example"],
    params={
        "dub_conn_id": Param("dub_default", type="string"),
        "country": Param("US", type="string"),
        "search": Param("", type="string"),
        "max_xcom_records": Param(1000, type="integer", minimum=1),
    },
)
def dub_filtered_list() -> None:
    """The customers of one country (or matching a search), summarised downstream."""
    customers = DubListCustomersOperator(
        task_id="list_customers",
        dub_conn_id="{{ params.dub_conn_id }}",
        country="{{ params.country }}",
        search="{{ params.search }}",
        max_xcom_records="{{ params.max_xcom_records }}",
    )

    @task(show_return_value_in_logs=False)  # it holds customer names: not for the task log
    def top_customers(customers: list[dict[str, Any]]) -> dict[str, Any]:
        """How many customers, how many paid, their revenue (cents) and the five biggest spenders."""
        paying = sorted(
            (c for c in customers if c["saleAmount"] > 0), key=lambda c: c["saleAmount"], reverse=True
        )
        return {
            "customers": len(customers),
            "paying": len(paying),
            "revenue": sum(c["saleAmount"] for c in paying),
            "top": [{"id": c["id"], "name": c["name"], "saleAmount": c["saleAmount"]} for c in paying[:5]],
        }

    top_customers(customers.output)


dub_filtered_list()
# [END dub_filtered_list]
