"""The parallel read keeps the exactness guarantee: every customer present throughout exactly once."""

from __future__ import annotations

import json
import random
import threading

import pytest

from airflow_provider_dub.hooks.dub import DubHook
from airflow_provider_dub.testing import DubEmulator

FAST = 1_000_000


def hook_for(dub: DubEmulator, monkeypatch: pytest.MonkeyPatch, concurrency: int = 8) -> DubHook:
    conn = json.loads(dub.airflow_conn_json())
    conn["extra"] = {"requests_per_minute": FAST, "max_concurrency": concurrency}
    monkeypatch.setenv("AIRFLOW_CONN_DUB_PAR", json.dumps(conn))
    return DubHook("dub_par")


def sweeps_used(dub: DubEmulator) -> int:
    """How many distinct asc sweeps started (first-wave cursors are pivots)."""
    return len(
        {
            r.query["startingAfter"]
            for r in dub.requests[:40]
            if "startingAfter" in r.query and r.query.get("sortOrder") == "asc"
        }
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_parallel_read_is_exact_with_imports_and_legacy_ids(seed: int, monkeypatch) -> None:
    with DubEmulator(customers=12_000, seed=seed, rate_limit=FAST, imported_share=0.2) as dub:
        got = [c["id"] for c in hook_for(dub, monkeypatch).iter_customers()]
        assert len(got) == len(set(got)) == 12_000
        assert set(got) == dub.customer_ids()
        assert sweeps_used(dub) >= 8  # it really ran in parallel
        assert dub.request_count() <= 12_000 // 100 + 2 * 17


def test_small_read_is_one_round_trip(monkeypatch) -> None:
    """Two sample pages and the count, sent together: a short sample page is every customer."""
    with DubEmulator(customers=60, seed=1, rate_limit=FAST, latency=0.2) as dub:
        got = list(hook_for(dub, monkeypatch).iter_customers())
        assert sorted(c["id"] for c in got) == sorted(dub.customer_ids())
        records = dub.requests
        assert len(records) == 3
        assert max(r.started for r in records) < min(r.ended for r in records)  # all in flight at once


@pytest.mark.parametrize("seed", [4, 5])
def test_parallel_read_with_inserts_and_deletes_during_the_read(seed: int, monkeypatch) -> None:
    rng = random.Random(seed)
    lock = threading.Lock()
    with DubEmulator(customers=10_000, seed=seed, rate_limit=FAST) as dub:
        original = dub.customer_ids()
        deleted: set[str] = set()
        added: set[str] = set()

        def churn(record) -> None:
            with lock:
                deleted.update(dub.delete_random(3, rng_seed=rng.randint(0, 10**6)))
                added.update(c["id"] for c in dub.add_customers(1))
                added.update(c["id"] for c in dub.add_customers(1, imported=True))

        dub.before_request(churn)
        got = [c["id"] for c in hook_for(dub, monkeypatch).iter_customers()]
        assert len(got) == len(set(got)), "a customer was read twice"
        assert original - deleted <= set(got), "a customer present throughout was missed"
        assert set(got) <= original | added


def test_pivots_deleted_before_and_during_their_sweeps(monkeypatch) -> None:
    with DubEmulator(customers=10_000, seed=6, rate_limit=FAST) as dub:
        original = dub.customer_ids()
        pivots: list[str] = []
        lock = threading.Lock()

        def delete_pivots(record) -> None:
            cursor = record.query.get("startingAfter")
            with lock:
                first_use = cursor and cursor not in pivots and record.query.get("sortOrder") == "asc"
                if first_use and len(pivots) < 12:
                    pivots.append(cursor)
                    if len(pivots) % 3 == 0:
                        dub.delete_customers([cursor])  # dies before its first page
                if len(dub.requests) in (40, 60, 80) and pivots:
                    dub.delete_customers([pivots[len(dub.requests) // 20]])  # dies mid-read

        dub.before_request(delete_pivots)
        got = [c["id"] for c in hook_for(dub, monkeypatch).iter_customers()]
        assert len(got) == len(set(got))
        assert dub.customer_ids() <= set(got) <= original
        assert sum(1 for r in dub.requests if r.status == 422) >= 3


def test_concurrency_one_is_the_sequential_read(monkeypatch) -> None:
    with DubEmulator(customers=3_000, seed=7, rate_limit=FAST) as dub:
        got = [c["id"] for c in hook_for(dub, monkeypatch, concurrency=1).iter_customers()]
        assert set(got) == dub.customer_ids() and len(got) == 3_000
        assert all(r.query.get("sortBy") is None for r in dub.requests)  # no samples: no parallel plan
