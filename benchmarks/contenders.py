"""
The ways to read every Dub customer that the benchmark compares, each run in its own process.

Every contender reads ``DUB_URL`` with ``DUB_API_KEY`` and prints one JSON line: the ids it returned
(counted, not listed), its wall time, when it started (epoch seconds) and its peak RSS. Run as ``python -m benchmarks.contenders NAME``.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

URL = os.environ.get("DUB_URL", "")
KEY = os.environ.get("DUB_API_KEY", "")
PAGE = 100


def ours() -> Iterator[str]:
    """DubHook.iter_customers: parallel sweeps, paced under the plan's limit."""
    os.environ["AIRFLOW_CONN_DUB_BENCH"] = json.dumps({"conn_type": "dub", "host": URL, "password": KEY})
    from airflow_provider_dub.hooks.dub import DubHook

    for customer in DubHook("dub_bench").iter_customers():
        yield customer["id"]


def sequential_requests() -> Iterator[str]:
    """A hand-written cursor loop with requests: first page, then startingAfter=<last id>."""
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {KEY}"
    params: dict[str, Any] = {"pageSize": PAGE}
    while True:
        page = session.get(f"{URL}/customers", params=params, timeout=60).json()
        yield from (c["id"] for c in page)
        if len(page) < PAGE:
            return
        params = {"pageSize": PAGE, "startingAfter": page[-1]["id"]}


def _dub_sdk() -> Any:
    from dub import Dub

    return Dub(token=KEY, server_url=URL)


def dub_sdk_readme() -> Iterator[str]:
    """Dub's SDK as its README shows: ``res = dub.customers.list(...)`` then ``res.next()``."""
    res = _dub_sdk().customers.list(request={"page_size": PAGE})
    while res is not None:
        yield from (c.id for c in res.result)
        res = res.next()


def dub_sdk_cursor_loop() -> Iterator[str]:
    """Dub's SDK with a hand-written cursor loop (starting_after=<last id>)."""
    client = _dub_sdk()
    request: dict[str, Any] = {"page_size": PAGE}
    while True:
        page = client.customers.list(request=request).result
        yield from (c.id for c in page)
        if len(page) < PAGE:
            return
        request = {"page_size": PAGE, "starting_after": page[-1].id}


def http_operator() -> Iterator[str]:
    """Airflow's HttpOperator with a pagination function (startingAfter=<last id>); all pages in memory."""
    os.environ["AIRFLOW_CONN_DUB_HTTP"] = json.dumps({"conn_type": "http", "host": URL})
    from airflow.providers.http.operators.http import HttpOperator

    def next_page(response: Any) -> dict[str, Any] | None:
        page = response.json()
        if len(page) < PAGE:
            return None
        return {"data": {"pageSize": PAGE, "startingAfter": page[-1]["id"]}}

    list_customers = HttpOperator(
        task_id="list_customers",
        http_conn_id="dub_http",
        endpoint="customers",
        method="GET",
        data={"pageSize": PAGE},
        headers={"Authorization": f"Bearer {KEY}"},
        pagination_function=next_page,
        response_filter=lambda responses: [c["id"] for r in responses for c in r.json()],
    )
    yield from list_customers.execute(context={})  # type: ignore[arg-type]


CONTENDERS: dict[str, Callable[[], Iterator[str]]] = {
    "ours": ours,
    "sequential_requests": sequential_requests,
    "dub_sdk_readme": dub_sdk_readme,
    "dub_sdk_cursor_loop": dub_sdk_cursor_loop,
    "http_operator": http_operator,
}


#: Modules each contender needs, imported before the clock starts: the read is timed, not Airflow's import.
WARM_UP = {
    "ours": ["airflow_provider_dub.hooks.dub", "requests"],
    "sequential_requests": ["requests"],
    "dub_sdk_readme": ["dub"],
    "dub_sdk_cursor_loop": ["dub"],
    "http_operator": ["airflow.providers.http.operators.http"],
}


def main(name: str) -> None:
    import importlib

    for module in WARM_UP[name]:
        importlib.import_module(module)
    # The garbage those imports left is theirs too: without this, the process's first full collection
    # (about 0.1 s after importing Airflow) falls inside whichever read allocates first.
    gc.collect()
    ids_path = os.environ.get("DUB_IDS_OUT")
    started_at = time.time()
    started = time.monotonic()
    ids = list(CONTENDERS[name]())
    wall = time.monotonic() - started
    if ids_path:
        with open(ids_path, "w") as out:
            out.write("\n".join(ids))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"records": len(ids), "wall": wall, "started": started_at, "peak_rss_mb": peak_mb}))


if __name__ == "__main__":
    main(sys.argv[1])
