"""
``s3://`` through Airflow's amazon provider and s3fs, against a real S3-protocol server on loopback.

The server is moto's server mode, started by ``scripts/services/moto.sh`` (scripts/test.sh evals it),
which exports ``DUB_TEST_S3_ENDPOINT``. Airflow reaches it through the ``aws_test`` connection and URLs
such as ``s3://aws_test@bucket/key``; the tests read the bucket back with boto3, not through our code.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pendulum
import pytest

from airflow_provider_dub.testing import DubEmulator, FaultKind
from tests.integration.airflow_runs import run_dag, task_states, xcom_value
from tests.services import service_setting

CONN_ID = "aws_test"

pytestmark = pytest.mark.usefixtures("airflow_db")


class Bucket:
    """A bucket of the S3 emulator, read and written directly with boto3."""

    def __init__(self, client: Any, name: str) -> None:
        self.client, self.name = client, name

    def url(self, key: str) -> str:
        return f"s3://{CONN_ID}@{self.name}/{key}"

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=data)

    def get(self, key: str) -> bytes | None:
        """The object's bytes; ``None`` when there is no object at ``key``."""
        try:
            return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None

    def keys(self) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.name)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def uploads(self) -> list[dict[str, Any]]:
        """The multipart uploads begun and neither completed nor aborted."""
        return self.client.list_multipart_uploads(Bucket=self.name).get("Uploads", [])

    def uploaded_parts(self) -> int:
        return sum(
            len(
                self.client.list_parts(Bucket=self.name, Key=u["Key"], UploadId=u["UploadId"]).get(
                    "Parts", []
                )
            )
            for u in self.uploads()
        )

    def empty(self) -> None:
        for upload in self.uploads():
            self.client.abort_multipart_upload(
                Bucket=self.name, Key=upload["Key"], UploadId=upload["UploadId"]
            )
        for key in self.keys():
            self.client.delete_object(Bucket=self.name, Key=key)


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bucket]:
    """A new bucket, and the ``aws_test`` Airflow connection pointing at the emulator."""
    import boto3

    endpoint = service_setting("DUB_TEST_S3_ENDPOINT", "moto.sh")
    credentials = {"login": "testing", "password": "testing"}
    extra = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_TEST", json.dumps({"conn_type": "aws", **credentials, "extra": extra})
    )
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    bucket = Bucket(client, f"dub-test-{uuid.uuid4().hex[:12]}")
    client.create_bucket(Bucket=bucket.name)
    yield bucket
    bucket.empty()  # the server outlives the test session: leave it as it was
    client.delete_bucket(Bucket=bucket.name)


@pytest.fixture
def dub(monkeypatch: pytest.MonkeyPatch) -> Iterator[DubEmulator]:
    """600 customers (several pages), expanded fields and all, as ``dub_default``."""
    with DubEmulator(customers=600, seed=17) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", emulator.airflow_conn_json())
        yield emulator


def _rows(data: bytes, fmt: str) -> list[dict[str, Any]]:
    if fmt == "jsonl":
        return [json.loads(line) for line in data.decode("utf-8").splitlines()]
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(data)).to_pylist()


def _same(value: Any, expected: Any) -> bool:
    """Equal, CSV's text and Parquet's types aside ("" is CSV's None, 5 is CSV's "5")."""
    if expected is None:
        return value in (None, "")
    return str(value) == str(expected)


def _anonymous_as_truth(row: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """The row, with the name Dub invents for a customer without name and email as the truth's None."""
    if expected["name"] is None and expected["email"] is None and row["name"]:
        return {**row, "name": None}
    return row


def _list_to(bucket: Bucket, key: str, **conf: Any) -> Any:
    return run_dag("test_dub_list_to_url", conf={"url": bucket.url(key), **conf})


# -- the list operator writes to S3 ----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_list_operator_writes_each_format_to_s3(dub: DubEmulator, bucket: Bucket, fmt: str) -> None:
    dr = _list_to(bucket, f"dub/customers.{fmt}", expanded=True)
    assert task_states(dr) == {"export": "success"}
    summary = xcom_value(dr, "export")
    assert summary["uri"] == f"s3://{bucket.name}/dub/customers.{fmt}"  # no connection id in the URI
    assert (summary["format"], summary["records"]) == (fmt, len(dub.customers()))
    assert bucket.keys() == [f"dub/customers.{fmt}"] and bucket.uploads() == []

    rows = _rows(bucket.get(f"dub/customers.{fmt}") or b"", fmt)
    truth = {c["id"]: c for c in dub.customers()}
    assert len(rows) == len(truth) and {r["id"] for r in rows} == set(truth)
    if fmt == "jsonl":  # every field, expanded objects too
        assert {r["id"]: _anonymous_as_truth(r, truth[r["id"]]) for r in rows} == truth
        return
    for row in rows:
        expected = truth[row["id"]]
        assert _same(_anonymous_as_truth(row, expected)["name"], expected["name"])
        for field in ("email", "externalId", "country", "sales", "saleAmount"):
            assert _same(row[field], expected[field]), (field, row[field], expected[field])
        link, partner = expected.get("link") or {}, expected.get("partner") or {}
        assert _same(row["link_shortLink"], link.get("shortLink"))
        assert _same(row["partner_id"], partner.get("id"))
    assert sum(bool(r["link_shortLink"]) for r in rows) > 0  # the expanded columns were filled


def test_no_partial_object_is_ever_visible_during_the_write(dub: DubEmulator, bucket: Bucket) -> None:
    key = "dub/customers.jsonl"
    previous = b'{"id":"cus_previous"}\n'
    bucket.put(key, previous)
    seen: list[bytes | None] = []

    def look_at_the_key(record: Any) -> None:  # before each page is served: the earlier ones are written
        if record.path == "/customers":
            seen.append(bucket.get(key))

    dub.before_request(look_at_the_key)
    dr = _list_to(bucket, key)
    dub.before_request(None)
    assert task_states(dr) == {"export": "success"}
    assert len(seen) >= len(dub.customers()) // 100
    assert set(seen) == {previous}  # the previous complete object at every look, never a partial one
    assert len(_rows(bucket.get(key) or b"", "jsonl")) == len(dub.customers())
    assert bucket.keys() == [key] and bucket.uploads() == []


def test_failure_mid_write_keeps_the_previous_object_and_leaves_nothing(
    dub: DubEmulator, bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "dub/customers.parquet"
    assert task_states(_list_to(bucket, key)) == {"export": "success"}
    previous = bucket.get(key)
    dub.add_customers(10)
    conn = json.loads(dub.airflow_conn_json())
    conn["extra"] = {"max_retry_seconds": 0}  # fail for good: no retry budget
    monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", json.dumps(conn))
    served: list[Any] = []

    def fail_after_three_pages(record: Any) -> None:
        served.append(record)
        if len(served) == 3:
            dub.inject(FaultKind.SERVER_ERROR, times=1000, status=500)

    dub.before_request(fail_after_three_pages)
    dr = _list_to(bucket, key)
    dub.before_request(None)
    assert task_states(dr) == {"export": "failed"}
    assert bucket.get(key) == previous
    assert bucket.keys() == [key]  # no temporary object
    assert bucket.uploads() == []  # the upload was aborted, not left open


# -- the writer with S3 multipart uploads (parts uploaded before the end) ---------------------------


def _pages(count: int, start: int = 0) -> Iterator[list[dict[str, Any]]]:
    """Pages of 100 customer-shaped records of about 1.1 KB each: a 5 MiB part is 46 pages."""
    for page in range(start, start + count):
        yield [{"id": f"cus_{page:04d}_{i:03d}", "name": "x" * 1100, "email": None} for i in range(100)]


def test_multipart_write_is_invisible_until_complete_and_aborted_on_failure(
    bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_dub import writers

    monkeypatch.setattr(writers, "S3_PART_SIZE", 5 * 2**20)  # S3's smallest part: a 2-part file is 5+ MB
    key = "big/customers.jsonl"
    previous = b'{"id":"cus_previous"}\n'
    bucket.put(key, previous)
    looks: list[tuple[bytes | None, int]] = []

    def watched(pages: Iterator[list[dict[str, Any]]], fail_after: int | None = None) -> Iterator[list]:
        for number, page in enumerate(pages):
            if number % 10 == 0:  # between pages: what a reader of the key sees, and the parts so far
                looks.append((bucket.get(key), bucket.uploaded_parts()))
            if number == fail_after:
                raise RuntimeError("the read failed")
            yield page

    path = ObjectStoragePath(bucket.url(key))
    result = writers.write_customers(path, watched(_pages(60)), "jsonl")
    assert result.records == 6_000 and result.uri == f"s3://{bucket.name}/{key}"
    assert {content for content, _ in looks} == {previous}
    assert max(parts for _, parts in looks) >= 1  # a part was uploaded while the key still showed the old one
    written = bucket.get(key) or b""
    assert [json.loads(line)["id"] for line in written.splitlines()] == [
        c["id"] for page in _pages(60) for c in page
    ]
    assert bucket.keys() == [key] and bucket.uploads() == []

    # A failure after a part was uploaded: the upload is aborted, the complete object stays.
    looks.clear()
    with pytest.raises(RuntimeError, match="the read failed"):
        writers.write_customers(path, watched(_pages(60, start=100), fail_after=55), "jsonl")
    assert max(parts for _, parts in looks) >= 1
    assert {content for content, _ in looks} == {written}
    assert bucket.get(key) == written
    assert bucket.keys() == [key] and bucket.uploads() == []


# -- the sensor's file output ---------------------------------------------------------------------


def test_sensor_writes_the_new_customers_to_s3(dub: DubEmulator, bucket: Bucket) -> None:
    added = dub.add_customers(250)
    dr = run_dag(
        "test_dub_new_customers_poke",
        conf={
            "since": pendulum.now("UTC").subtract(minutes=1).isoformat(),  # not the stored watermark
            "cap": 100,
            "output_path": bucket.url("new/customers.jsonl"),
        },
        logical_date=pendulum.now("UTC"),
    )
    assert task_states(dr) == {"wait_for_new": "success"}
    result = xcom_value(dr, "wait_for_new")
    assert result["customers"] is None and result["count"] == 250
    assert result["uri"] == f"s3://{bucket.name}/new/customers.jsonl"
    rows = _rows(bucket.get("new/customers.jsonl") or b"", "jsonl")
    assert [r["id"] for r in rows] and {r["id"] for r in rows} == {c["id"] for c in added}
    assert len(rows) == 250
    assert bucket.keys() == ["new/customers.jsonl"] and bucket.uploads() == []


# -- the transfer operator reads a snapshot from S3 -------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_transfer_operator_reads_a_snapshot_from_s3(
    dub: DubEmulator, bucket: Bucket, fmt: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from airflow_provider_dub.transfers.dub_to_sql import DubCustomersToSqlOperator

    key = f"snapshots/2026-03-04/customers.{fmt}"
    dr = _list_to(bucket, key)  # the snapshot as the list operator writes it
    assert task_states(dr) == {"export": "success"}
    warehouse = tmp_path / "warehouse.db"
    monkeypatch.setenv(
        "AIRFLOW_CONN_DUB_TEST_S3_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(warehouse)})
    )
    result = DubCustomersToSqlOperator(
        task_id="merge",
        snapshot_path=bucket.url(key),  # the connection id in the URL, as the list operator takes it
        sql_conn_id="dub_test_s3_warehouse",
        table="dub_customers",
        snapshot_date="2026-03-04",
    ).execute({})  # type: ignore[arg-type]
    truth = {c["id"]: c for c in dub.customers()}
    assert result["inserted"] == len(truth)
    with sqlite3.connect(warehouse) as conn:
        rows = conn.execute("SELECT id, email, country, sales, sale_amount FROM dub_customers").fetchall()
    assert {row[0]: row[1:] for row in rows} == {
        i: (c["email"], c["country"], c["sales"], c["saleAmount"]) for i, c in truth.items()
    }
    assert bucket.keys() == [key]  # read only
