"""
A consumer of the warehouse load's snapshot: scheduled on the Asset ``dub_customers_snapshot``.

Each time ``dub_customers_warehouse`` publishes a day's snapshot, this DAG runs and summarises it:
customers, paying customers, revenue (cents), canceled subscriptions and the ten biggest countries. The
report goes to XCom and beside the snapshot, as ``report.json``. The snapshot's file comes from the
triggering asset event's extra; a manual run reads the newest event of the Asset instead.

Configuration: none; the snapshot's location travels in the asset event (its ``path`` keeps the
object storage connection id, if any).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pendulum
from airflow.sdk import Asset, ObjectStoragePath, dag, task

# [START dub_snapshot_report]
# The warehouse load's outlet: an Asset is identified by its name, so this is the same one.
SNAPSHOT = Asset("dub_customers_snapshot")


@dag(schedule=SNAPSHOT, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), tags=["dub", "example"])
def dub_snapshot_report() -> None:
    """Summarise each new snapshot of the Dub customers."""

    @task(inlets=[SNAPSHOT])
    def report(triggering_asset_events: Any = None, inlet_events: Any = None) -> dict[str, Any]:
        """Stream the snapshot file once, count, and write ``report.json`` beside it."""
        events = list(triggering_asset_events.get(SNAPSHOT, [])) if triggering_asset_events else []
        event = events[-1] if events else inlet_events[SNAPSHOT][-1]  # manual run: the newest
        snapshot = ObjectStoragePath(event.extra["path"])
        countries: Counter[str] = Counter()
        customers = paying = canceled = revenue = 0
        with snapshot.open("r", encoding="utf-8") as lines:
            for line in iter(lines.readline, ""):  # Airflow 3.1: the file object is not iterable
                if not line.strip():
                    continue
                customer = json.loads(line)
                customers += 1
                paying += customer["saleAmount"] > 0
                revenue += customer["saleAmount"]
                canceled += customer["subscriptionCanceledAt"] is not None
                countries[customer["country"] or "unknown"] += 1
        summary = {
            "snapshot": event.extra["uri"],
            "date": event.extra["date"],
            "customers": customers,
            "paying": paying,
            "revenue": revenue,
            "canceled_subscriptions": canceled,
            "top_countries": dict(countries.most_common(10)),
        }
        (snapshot.parent / "report.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        return summary

    report()


dub_snapshot_report()
# [END dub_snapshot_report]
