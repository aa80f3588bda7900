"""The connection form as Airflow's UI API describes it, on the Airflow version installed (3.1 and 3.3)."""

from __future__ import annotations

import pytest


@pytest.mark.usefixtures("airflow_db")
def test_the_ui_gets_relabelled_hidden_and_extra_fields() -> None:
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    meta = next(m for m in HookMetaService.hook_meta_data() if m.connection_type == "dub")
    fields = meta.standard_fields
    assert meta.hook_name == "Dub"
    assert fields.host.title == "Base URL" and fields.host.placeholder == "https://api.dub.co"
    assert fields.password.title == "API key" and not fields.password.hidden
    assert fields.login.hidden and fields.port.hidden
    extras = meta.extra_fields or {}
    assert {
        "requests_per_minute",
        "max_concurrency",
        "max_retry_seconds",
        "connect_timeout",
        "read_timeout",
    } <= {name.rsplit("__", 1)[-1] for name in extras}
