"""DubNewCustomersSensor with its hook, read plan and watermark store patched: every path of a wait."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from airflow.providers.common.compat.sdk import AirflowSensorTimeout, AirflowSkipException, TaskDeferred
from airflow.sdk import PokeReturnValue

from airflow_provider_dub import exceptions
from airflow_provider_dub.protocol import Watermark
from airflow_provider_dub.sensors import dub as sensor_module
from airflow_provider_dub.sensors.dub import DubNewCustomersSensor
from airflow_provider_dub.triggers.dub import DubNewCustomersTrigger

NOW = 1_800_000_000.0
WATERMARK = Watermark("cus_1KQ", ["cus_1KQ"], 1_799_000_000_000)
NEW = Watermark("cus_1KZ", ["cus_1KZ"], 1_800_000_000_000)
CONTEXT: Any = {"ti": object(), "data_interval_start": None}


class Clock:
    """The sensor's ``time`` module: wall time set by the test, monotonic as it is."""

    def __init__(self) -> None:
        self.now = NOW

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return 0.0


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(sensor_module, "time", clock)
    return clock


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> mock.MagicMock:
    """The watermark store: the previous run's watermark is WATERMARK."""
    store_class = mock.MagicMock()
    store_class.return_value.load.return_value = WATERMARK
    monkeypatch.setattr(sensor_module, "WatermarkStore", store_class)
    return store_class.return_value


@pytest.fixture
def plan(monkeypatch: pytest.MonkeyPatch) -> mock.MagicMock:
    plan = mock.MagicMock()
    plan.new_watermark.return_value = NEW
    build = mock.MagicMock(return_value=plan)
    monkeypatch.setattr(sensor_module, "build_new_customers_plan", build)
    plan.build = build
    return plan


@pytest.fixture
def hook_class():
    with mock.patch("airflow_provider_dub.utils.mixins.DubHook") as hook_class:
        hook_class.return_value.request_count = 1
        hook_class.return_value.run_plan.return_value = iter([])
        yield hook_class


def new_customers(hook_class: mock.MagicMock, *pages: list[dict[str, Any]]) -> None:
    hook_class.return_value.run_plan.return_value = iter(pages)


def make_sensor(**kwargs: Any) -> DubNewCustomersSensor:
    return DubNewCustomersSensor(task_id="wait", **{"timeout": 600, "poke_interval": 30, **kwargs})


# -- poke -------------------------------------------------------------------------------------------


def test_poke_returns_the_new_customers_and_moves_the_watermark(hook_class, plan, store, clock) -> None:
    new_customers(hook_class, [{"id": "cus_1KY"}, {"id": "cus_1KZ"}])
    sensor = make_sensor(country="US", include_expanded_fields="no", hook_params={"max_retry_seconds": 7})
    result = sensor.poke(CONTEXT)
    assert isinstance(result, PokeReturnValue) and result.is_done
    assert result.xcom_value["count"] == 2 and result.xcom_value["watermark"] == NEW.to_json()
    plan.build.assert_called_once_with(
        watermark=WATERMARK, since_ms=None, include_expanded_fields=False, country="US"
    )
    hook_class.assert_called_once_with("dub_default", max_retry_seconds=7)
    store.save.assert_called_once_with(NEW)


def test_poke_with_too_few_waits_and_keeps_the_watermark(hook_class, plan, store, clock) -> None:
    new_customers(hook_class, [{"id": "cus_1KY"}])
    assert make_sensor(min_new=2).poke(CONTEXT) is False
    store.save.assert_not_called()


def test_above_the_cap_without_output_path_fails_and_keeps_the_watermark(hook_class, plan, store) -> None:
    new_customers(hook_class, [{"id": "cus_1"}, {"id": "cus_2"}])
    with pytest.raises(exceptions.DubXComLimitError, match="max_xcom_records=1"):
        make_sensor(max_xcom_records=1).poke(CONTEXT)
    store.save.assert_not_called()


@pytest.mark.parametrize(("include", "expanded"), [("yes", True), ("no", False), ("0", False)])
def test_a_file_has_expanded_columns_exactly_when_dub_was_asked_for_them(
    hook_class, plan, store, tmp_path, include: str, expanded: bool
) -> None:
    new_customers(hook_class, [{"id": "cus_1"}, {"id": "cus_2"}])
    plan.found = 2
    path = tmp_path / "new.csv"
    sensor = make_sensor(max_xcom_records=1, output_path=f"file://{path}", include_expanded_fields=include)
    with mock.patch.object(sensor_module, "write_customers") as write:
        write.return_value.uri = f"file://{path}"
        result = sensor.poke(CONTEXT)
    assert result.xcom_value["uri"] == f"file://{path}" and result.xcom_value["customers"] is None
    assert write.call_args.kwargs["expanded"] is expanded
    assert plan.build.call_args.kwargs["include_expanded_fields"] is expanded


# -- deferrable -------------------------------------------------------------------------------------


def deferred(call, *args: Any, **kwargs: Any) -> TaskDeferred:
    with pytest.raises(TaskDeferred) as raised:
        call(*args, **kwargs)
    return raised.value


def test_execute_defers_with_a_trigger_that_carries_hook_params(hook_class, plan, store, clock) -> None:
    sensor = make_sensor(
        deferrable=True, country="DE", min_new="3", hook_params={"max_retry_seconds": 7}, dub_conn_id="dub_eu"
    )
    deferral = deferred(sensor.execute, CONTEXT)
    assert isinstance(deferral.trigger, DubNewCustomersTrigger)
    assert deferral.trigger.serialize() == (
        "airflow_provider_dub.triggers.dub.DubNewCustomersTrigger",
        {
            "dub_conn_id": "dub_eu",
            "hook_params": {"max_retry_seconds": 7},
            "filters": {"country": "DE", "include_expanded_fields": False},
            "watermark": WATERMARK.to_json(),
            "since_ms": None,
            "min_new": 3,
            "poll_interval": 30.0,
            "end_time": NOW + 600,
        },
    )
    assert deferral.method_name == "execute_complete"
    assert deferral.kwargs == {"end_time": NOW + 600}
    assert deferral.timeout.total_seconds() == 600


def test_execute_returns_at_once_when_the_first_check_finds_enough(hook_class, plan, store, clock) -> None:
    new_customers(hook_class, [{"id": "cus_1KZ"}])
    assert make_sensor(deferrable=True).execute(CONTEXT)["count"] == 1


def test_success_event_reads_the_new_customers(hook_class, plan, store, clock) -> None:
    new_customers(hook_class, [{"id": "cus_1KZ"}])
    result = make_sensor(deferrable=True).execute_complete(
        CONTEXT, {"status": "success", "found": 1}, end_time=NOW + 60
    )
    assert result["count"] == 1 and result["customers"] == [{"id": "cus_1KZ"}]


def test_redeferring_keeps_the_first_end_time_so_the_wait_never_exceeds_timeout(
    hook_class, plan, store, clock
) -> None:
    sensor = make_sensor(deferrable=True)
    deferral = deferred(sensor.execute, CONTEXT)
    end_time = deferral.kwargs["end_time"]
    for elapsed in (200, 450, 599):  # the customers the trigger saw were deleted again each time
        clock.now = NOW + elapsed
        deferral = deferred(
            sensor.execute_complete, CONTEXT, {"status": "success", "found": 1}, **deferral.kwargs
        )
        assert deferral.kwargs == {"end_time": end_time} and deferral.trigger.end_time == end_time
        assert deferral.timeout.total_seconds() == pytest.approx(600 - elapsed)
    clock.now = NOW + 600
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute_complete(CONTEXT, {"status": "success", "found": 1}, **deferral.kwargs)


@pytest.mark.parametrize(
    ("soft_fail", "raised"), [(False, AirflowSensorTimeout), (True, AirflowSkipException)]
)
def test_timeout_event_fails_or_skips(soft_fail: bool, raised: type[Exception]) -> None:
    sensor = make_sensor(deferrable=True, soft_fail=soft_fail, min_new=2)
    with pytest.raises(raised, match="No 2 new Dub customers within the sensor's timeout of 600"):
        sensor.execute_complete(CONTEXT, {"status": "timeout"}, end_time=NOW)


@pytest.mark.parametrize(
    ("code", "http_status", "raised"),
    [
        ("unauthorized", 401, exceptions.DubUnauthorizedError),
        ("forbidden", 403, exceptions.DubForbiddenError),
        ("exceeded_limit", 403, exceptions.DubExceededLimitError),
        ("not_found", 404, exceptions.DubNotFoundError),
        ("unprocessable_entity", 422, exceptions.DubUnprocessableEntityError),
        ("rate_limit_exceeded", 429, exceptions.DubRateLimitError),
        ("internal_server_error", 500, exceptions.DubServerError),
        ("http_503", 503, exceptions.DubServerError),  # no envelope: the class of the status
        ("unauthorized", None, exceptions.DubUnauthorizedError),  # an event of an older trigger
    ],
)
def test_error_event_raises_the_class_of_dubs_code(code: str, http_status: int | None, raised) -> None:
    event = {
        "status": "error",
        "message": "Dub's message.",
        "code": code,
        "http_status": http_status,
        "doc_url": f"https://dub.co/docs/api-reference/errors#{code}",
    }
    with pytest.raises(raised) as error:
        make_sensor(deferrable=True).execute_complete(CONTEXT, event, end_time=NOW)
    assert type(error.value) is raised
    assert (error.value.code, error.value.message) == (code, "Dub's message.")
    assert error.value.doc_url == event["doc_url"]


def test_error_event_without_a_code_raises_a_dub_error_with_the_message() -> None:
    event = {"status": "error", "message": "Dub did not answer GET /customers: ConnectTimeout", "code": None}
    with pytest.raises(exceptions.DubError, match=r"^Dub: Dub did not answer") as error:
        make_sensor(deferrable=True).execute_complete(CONTEXT, event, end_time=NOW)
    assert not isinstance(error.value, exceptions.DubAPIError)
