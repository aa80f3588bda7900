"""The emulator examples of the documentation (docs/emulator.rst includes them); docs.sh runs them."""

from __future__ import annotations

import json

import pytest

from airflow_provider_dub.exceptions import DubForbiddenError
from airflow_provider_dub.hooks.dub import DubHook
from airflow_provider_dub.testing import DubEmulator, FaultKind


# [START emulator_complete_read]
def test_reads_every_customer_once(monkeypatch: pytest.MonkeyPatch) -> None:
    with DubEmulator(customers=2500, seed=1) as dub:
        monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", dub.airflow_conn_json())
        ids = [customer["id"] for customer in DubHook().iter_customers()]
        assert len(ids) == len(set(ids)) == 2500
        assert set(ids) == dub.customer_ids()


# [END emulator_complete_read]


# [START emulator_faults]
def test_survives_rate_limits_and_server_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    # A 2-second rate-limit window keeps the 429's wait short.
    with DubEmulator(customers=300, seed=2, rate_limit_window=2.0) as dub:
        monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", dub.airflow_conn_json())
        dub.inject(FaultKind.RATE_LIMIT, times=1)
        dub.inject(FaultKind.SERVER_ERROR, times=2, status=503)
        assert len(list(DubHook().iter_customers())) == 300
        assert [request.status for request in dub.requests][:3] == [429, 503, 503]


# [END emulator_faults]


# [START emulator_keys]
def test_a_pro_plan_cannot_list_customers(monkeypatch: pytest.MonkeyPatch) -> None:
    with DubEmulator(customers=10) as dub:
        key = dub.add_key(plan="pro")
        conn = {"conn_type": "dub", "host": dub.url, "password": key}
        monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", json.dumps(conn))
        with pytest.raises(DubForbiddenError, match="Need higher plan"):
            list(DubHook().iter_customers())
        assert DubHook().test_connection() == (False, "Unauthorized: Need higher plan.")


# [END emulator_keys]
