"""
Peak memory of a full read written to JSON Lines in object storage, in its own process.

Prints one JSON line: RSS after the first 10,000 customers, peak RSS at the end (VmHWM), records.
Run as ``python -m benchmarks.memory OUTPUT_URL`` with DUB_URL and DUB_API_KEY set.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def main(output_url: str) -> None:
    os.environ["AIRFLOW_CONN_DUB_BENCH"] = json.dumps(
        {
            "conn_type": "dub",
            "host": os.environ["DUB_URL"],
            "password": os.environ["DUB_API_KEY"],
            "extra": {"requests_per_minute": 1_000_000},
        }
    )
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_dub.hooks.dub import DubHook
    from airflow_provider_dub.writers import write_customers

    baseline: dict[str, float] = {}

    def watch(pages: Iterable[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
        seen = 0
        for page in pages:
            seen += len(page)
            if seen >= 10_000 and not baseline:
                baseline["rss_mb"] = _status_mb("VmRSS")
            yield page

    pages = DubHook("dub_bench").iter_customer_pages()
    result = write_customers(ObjectStoragePath(output_url), watch(pages), "jsonl")
    print(
        json.dumps(
            {
                "records": result.records,
                "rss_after_10k_mb": baseline["rss_mb"],
                "peak_rss_mb": _status_mb("VmHWM"),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
