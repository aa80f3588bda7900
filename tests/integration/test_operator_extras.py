"""The operator's lineage, progress log and kill-safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_provider_dub.operators.dub import DubListCustomersOperator
from airflow_provider_dub.testing import DubEmulator
from tests.integration.airflow_runs import run_dag, task_states


@pytest.mark.usefixtures("airflow_db")
def test_openlineage_events_name_dub_and_the_file(dub: DubEmulator, tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("airflow.providers.openlineage", reason="OpenLineage provider not installed")
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv(
        "AIRFLOW__OPENLINEAGE__TRANSPORT",
        json.dumps({"type": "file", "log_file_path": str(events), "append": True}),
    )
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__DISABLED", "False")
    from airflow.providers.openlineage.plugins.openlineage import OpenLineageProviderPlugin  # noqa: F401

    dr = run_dag("test_dub_lineage", conf={"base": str(tmp_path)})
    assert task_states(dr) == {"export": "success"}
    operator = DubListCustomersOperator(task_id="x", output_path=f"file://{tmp_path}/x.jsonl")
    operator._lineage_output = f"file://{tmp_path}/x.jsonl"
    lineage = operator.get_openlineage_facets_on_complete(None)
    assert lineage.inputs[0].name == "customers" and lineage.inputs[0].namespace.startswith("dub://127.0.0.1")
    assert lineage.outputs[0].name == f"{tmp_path}/x.jsonl"
    text = events.read_text()  # the listener ran in-process and wrote its events
    assert dub.api_key not in text
    complete = [e for e in map(json.loads, text.splitlines()) if e.get("eventType") == "COMPLETE"]
    assert complete, "no COMPLETE event"
    assert [(d["namespace"], d["name"]) for d in complete[-1]["inputs"]] == [
        (f"dub://{dub.url[7:]}", "customers")
    ]
    assert complete[-1]["outputs"][0]["name"] == f"{tmp_path}/lineage/customers.jsonl"


def test_progress_is_logged_without_customer_data(dub: DubEmulator, tmp_path: Path, monkeypatch) -> None:
    from structlog.testing import capture_logs

    import airflow_provider_dub.operators.dub as operator_module

    monkeypatch.setattr(operator_module, "_PROGRESS_EVERY_SECONDS", 0.0)
    operator = DubListCustomersOperator(task_id="export", output_path=f"file://{tmp_path}/c.jsonl")
    with capture_logs() as logs:
        summary = operator.execute(context={"outlet_events": {}})  # type: ignore[arg-type]
    messages = [str(entry.get("event")) for entry in logs]
    assert summary["records"] == 2_500
    assert any("of about 2500" in m and "customers/s" in m for m in messages), messages[:5]
    text = "\n".join(messages)
    emails = [c["email"] for c in dub.customers() if c["email"]]
    assert not any(email in text for email in emails[:500])


_KILLABLE = """
import os, sys
from airflow.sdk import ObjectStoragePath
from airflow_provider_dub.hooks.dub import DubHook
from airflow_provider_dub.writers import write_customers

def pages():
    for number, page in enumerate(DubHook().iter_customer_pages()):
        if number == 3:
            print("WRITING", flush=True)
        yield page

write_customers(ObjectStoragePath(sys.argv[1]), pages(), "jsonl")
"""


def test_a_killed_write_leaves_the_previous_file(tmp_path: Path) -> None:
    final = tmp_path / "customers.jsonl"
    final.write_text('{"id": "previous"}\n')
    with DubEmulator(customers=5_000, seed=3, latency=0.05) as slow:
        env = {**os.environ, "AIRFLOW_CONN_DUB_DEFAULT": slow.airflow_conn_json()}
        process = subprocess.Popen(
            [sys.executable, "-c", _KILLABLE, f"file://{final}"], env=env, stdout=subprocess.PIPE, text=True
        )
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while "WRITING" not in process.stdout.readline():
            assert time.monotonic() < deadline and process.poll() is None
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert final.read_text() == '{"id": "previous"}\n'
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "customers.jsonl"]
    assert all(name.startswith(".customers.jsonl.") and name.endswith(".tmp") for name in leftovers)
