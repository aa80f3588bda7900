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


@pytest.mark.usefixtures("airflow_db")
def test_openlineage_events_name_dub_and_the_file(dub: DubEmulator, tmp_path: Path) -> None:
    pytest.importorskip("airflow.providers.openlineage", reason="OpenLineage provider not installed")
    events = tmp_path / "events.jsonl"
    # A process of its own: OpenLineage reads its transport once per process.
    env = {
        **os.environ,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__DISABLED": "False",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow",
            "dags",
            "test",
            "test_dub_lineage",
            "-c",
            json.dumps({"base": str(tmp_path)}),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    text = events.read_text()
    assert dub.api_key not in text
    task_events = [
        e
        for e in map(json.loads, text.splitlines())
        if e.get("eventType") == "COMPLETE" and e["job"]["name"].endswith(".export")
    ]
    assert task_events, "no COMPLETE event for the task"
    event = task_events[-1]
    assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [(f"dub://{dub.url[7:]}", "customers")]
    assert event["outputs"][0]["name"] == f"{tmp_path}/lineage/customers.jsonl"


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


def test_an_empty_output_conn_id_keeps_the_urls_own_connection() -> None:
    from airflow_provider_dub.writers import open_output_path

    path = open_output_path("memory://dub_storage@bucket/customers.jsonl", "")
    # Airflow 3.1 keeps whatever conn_id it is given (even None) over the URL's: none may be passed there.
    carried = getattr(path, "conn_id", None) or path.storage_options.get("conn_id")
    assert carried == "dub_storage"
