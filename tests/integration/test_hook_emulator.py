"""DubHook over real HTTP against the emulator: completeness, churn, page caps, faults, the connection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator

import pytest

from airflow_provider_dub.exceptions import DubPaginationError, DubServerError
from airflow_provider_dub.hooks.dub import DubHook
from airflow_provider_dub.protocol import RetryPolicy
from airflow_provider_dub.protocol import pacer as pacer_module
from airflow_provider_dub.protocol.new_customers import is_current_id
from airflow_provider_dub.testing import DubEmulator, FaultKind

FAST = 1_000_000  # requests per minute for the emulator key and the hook: no pacing in these tests


def hook_for(dub: DubEmulator, monkeypatch: pytest.MonkeyPatch, conn_id: str = "dub_it", **extra) -> DubHook:
    conn = json.loads(dub.airflow_conn_json())
    conn["extra"] = {"requests_per_minute": FAST, **extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return DubHook(conn_id)


@pytest.fixture(scope="module")
def big() -> Iterator[DubEmulator]:
    with DubEmulator(customers=30_000, seed=5, rate_limit=FAST) as dub:
        yield dub


def test_complete_read_of_thirty_thousand_with_imports_and_legacy_ids(big: DubEmulator, monkeypatch) -> None:
    truth = big.customers()
    kinds = Counter(
        "current" if is_current_id(c["id"]) else "random" if c["id"].startswith("cus_") else "cuid"
        for c in truth
    )
    assert min(kinds.values()) > 1_000, kinds  # all three id formats are well represented
    hook = hook_for(big, monkeypatch)
    big.clear_requests()
    got = [c["id"] for c in hook.iter_customers()]
    assert len(got) == len(truth) == 30_000
    assert set(got) == {c["id"] for c in truth}
    assert big.request_count() <= 30_000 // 100 + 2 * 17  # at most 2 more a sweep (16 + the bottom)


def test_the_sdk_style_walk_really_loses_customers_here(big: DubEmulator, monkeypatch) -> None:
    """The trap the hook avoids: first page by createdAt, then startingAfter=<last id>."""
    hook = hook_for(big, monkeypatch)
    seen: list[str] = []
    page = hook.list_customers()
    while page:
        seen.extend(c["id"] for c in page)
        if len(page) < 100:
            break
        page = hook.list_customers(starting_after=page[-1]["id"])
    assert set(seen) != big.customer_ids()


def test_filtered_read_with_expanded_fields(big: DubEmulator, monkeypatch) -> None:
    hook = hook_for(big, monkeypatch)
    got = list(hook.iter_customers(country="DE", include_expanded_fields=True))
    truth = [c for c in big.customers() if c["country"] == "DE"]
    assert {c["id"] for c in got} == {c["id"] for c in truth} and len(got) == len(truth)
    assert any("link" in c for c in got) and any("link" not in c for c in got)
    assert hook.count_customers(country="DE") == len(truth)


def test_customers_added_and_deleted_during_the_read(monkeypatch) -> None:
    with DubEmulator(customers=8_000, seed=9, rate_limit=FAST) as dub:
        hook = hook_for(dub, monkeypatch)
        original = dub.customer_ids()
        deleted: set[str] = set()
        added: set[str] = set()

        def churn(record) -> None:
            if record.path == "/customers":
                deleted.update(dub.delete_random(4))
                added.update(c["id"] for c in dub.add_customers(2))
                added.update(c["id"] for c in dub.add_customers(1, imported=True))

        dub.before_request(churn)
        got = [c["id"] for c in hook.iter_customers()]
        assert len(got) == len(set(got)), "a customer was read twice"
        assert (original - deleted) <= set(got), "a customer present throughout was missed"
        assert set(got) <= original | added


def test_cursor_customer_deleted_mid_read_is_resumed(monkeypatch) -> None:
    with DubEmulator(customers=3_000, seed=2, rate_limit=FAST) as dub:
        hook = hook_for(dub, monkeypatch, max_concurrency=1)  # the sequential read; see test_parallel_read

        def delete_cursor(record) -> None:
            cursor = record.query.get("startingAfter")
            if cursor and len(dub.requests) in (3, 7, 12):
                dub.delete_customers([cursor])

        original = dub.customer_ids()
        dub.before_request(delete_cursor)
        got = [c["id"] for c in hook.iter_customers()]
        assert len(got) == len(set(got))
        assert dub.customer_ids() <= set(got) <= original
        assert sum(1 for r in dub.requests if r.status == 422) >= 3


def test_page_cap_smaller_than_the_data(monkeypatch) -> None:
    with DubEmulator(customers=2_000, seed=4, page_cap=5, rate_limit=FAST) as dub:
        hook = hook_for(dub, monkeypatch)
        got = [c["id"] for c in hook.iter_customers(page_size=50)]
        assert set(got) == dub.customer_ids() and len(got) == 2_000
        with pytest.raises(DubPaginationError, match="sort_by"):
            next(hook.iter_customers(sort_by="saleAmount"))


def test_429_storm_waits_for_the_window_and_completes(monkeypatch) -> None:
    monkeypatch.setattr(pacer_module, "WINDOW_SECONDS", 1.0)  # the client models the emulator's window
    with DubEmulator(customers=1_500, seed=3, rate_limit=FAST, rate_limit_window=1.0) as dub:
        hook = hook_for(dub, monkeypatch)
        lock = threading.Lock()
        started: list[bool] = []

        def start_the_storm_at_the_first_walk(record) -> None:
            # Once, when the read has left its first round (no cursor), whenever requests happen to end.
            with lock:
                if "startingAfter" in record.query and not started:
                    started.append(True)
                    dub.inject(FaultKind.RATE_LIMIT, times=3)

        dub.before_request(start_the_storm_at_the_first_walk)
        got = [c["id"] for c in hook.iter_customers()]
        assert set(got) == dub.customer_ids() and len(got) == 1_500
        assert sum(1 for r in dub.requests if r.status == 429) == 3


def test_real_rate_limit_with_millisecond_headers(monkeypatch) -> None:
    """A key limited to 20 requests in a 2-second window: the hook waits for the window Dub names."""
    monkeypatch.setattr(pacer_module, "WINDOW_SECONDS", 2.0)  # the client models the emulator's window
    with DubEmulator(customers=3_000, seed=3, rate_limit=20, rate_limit_window=2.0) as dub:
        hook = hook_for(dub, monkeypatch)
        got = [c["id"] for c in hook.iter_customers()]
        assert set(got) == dub.customer_ids()
        throttled = [r for r in dub.requests if r.status == 429]
        assert throttled, "the test must actually hit the limit"
        # The hook believes the connection's FAST limit until Dub's first 429 names the real one; the
        # requests already in flight then may meet it too: at most one wave of max_concurrency. (It
        # was 5 once on a loaded machine.) A client that hammered would collect one per retry.
        assert len(throttled) <= hook.settings.max_concurrency


def test_5xx_bursts_and_dropped_connections(monkeypatch) -> None:
    with DubEmulator(customers=2_000, seed=8, rate_limit=FAST) as dub:
        hook = hook_for(dub, monkeypatch)
        hook.retry_policy = RetryPolicy(max_retry_seconds=30, backoff_base=0.01, backoff_cap=0.05)
        dub.random_faults(
            {FaultKind.SERVER_ERROR: 0.15, FaultKind.DROP: 0.05, FaultKind.TRUNCATE: 0.05}, seed=3
        )
        got = [c["id"] for c in hook.iter_customers()]
        assert set(got) == dub.customer_ids() and len(got) == 2_000
        assert any(r.fault for r in dub.requests)


def test_persistent_5xx_fails_with_what_happened(monkeypatch) -> None:
    with DubEmulator(customers=500, seed=1, rate_limit=FAST) as dub:
        hook = hook_for(dub, monkeypatch, max_retry_seconds=1)
        dub.inject(FaultKind.SERVER_ERROR, times=1000, status=503)
        with pytest.raises(DubServerError, match=r"gave up after \d+ attempts"):
            list(hook.iter_customers())


def test_test_connection_good_bad_plan_and_unreachable(monkeypatch) -> None:
    with DubEmulator(customers=10, seed=1) as dub:
        assert hook_for(dub, monkeypatch).test_connection()[0] is True
        conn = json.loads(dub.airflow_conn_json())
        for key, message in (
            ("dub_wrongwrongwrongwrongwrong", "Unauthorized: Invalid API key."),
            (dub.add_key(plan="pro"), "Unauthorized: Need higher plan."),
        ):
            monkeypatch.setenv("AIRFLOW_CONN_DUB_TC", json.dumps({**conn, "password": key}))
            assert DubHook("dub_tc").test_connection() == (False, message)
        url = dub.url
    monkeypatch.setenv(
        "AIRFLOW_CONN_DUB_TC", json.dumps({**conn, "host": url, "extra": {"connect_timeout": 1}})
    )
    ok, message = DubHook("dub_tc").test_connection()
    assert ok is False and "did not answer" in message and conn["password"] not in message


def _json_output(stdout: str) -> list[dict]:
    """The JSON a CLI command printed, after any log lines."""
    start = stdout.find("[{")
    assert start >= 0, stdout
    return json.loads(stdout[start:])


def _airflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args], capture_output=True, text=True, env=env, timeout=180
    )


@pytest.mark.usefixtures("airflow_db")
def test_airflow_cli_lists_the_provider_and_adds_a_dub_connection() -> None:
    env = os.environ.copy()
    listed = _airflow("providers", "list", "--output", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "airflow-provider-dub" in {p["package_name"] for p in _json_output(listed.stdout)}
    added = _airflow(
        "connections",
        "add",
        "dub_cli_check",
        "--conn-type",
        "dub",
        "--conn-password",
        "dub_cliclicliclicliclicliclicli",
        "--conn-extra",
        '{"requests_per_minute": 600}',
        env=env,
    )
    assert added.returncode == 0, added.stderr
    shown = _airflow("connections", "get", "dub_cli_check", "--output", "json", env=env)
    assert _json_output(shown.stdout)[0]["conn_type"] == "dub"
