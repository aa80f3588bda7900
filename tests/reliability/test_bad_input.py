"""
Every bad input of ``bad_input.CASES`` gets its exact error, naming the argument, before any request.

Plain cases call the hook, the operator's ``execute`` or the sensor's ``poke`` directly; templated ones
run ``tests/integration/dags/reliability_dags.py`` with ``dag.test()``, the bad value in the run's
params, and read the error from the task's log. The emulator must have seen no request at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pendulum
import pytest

from airflow_provider_dub.exceptions import DubValidationError
from airflow_provider_dub.hooks.dub import DubHook
from airflow_provider_dub.operators.dub import DubListCustomersOperator
from airflow_provider_dub.sensors.dub import DubNewCustomersSensor
from airflow_provider_dub.testing import DubEmulator
from tests.integration.airflow_runs import run_dag, task_states
from tests.reliability.bad_input import CASES, Case, render_rst

DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "bad-input.rst"
DAGS = {
    "DubListCustomersOperator": ("test_dub_reliability_list", "list"),
    "DubNewCustomersSensor": ("test_dub_reliability_sensor", "wait"),
}


@pytest.fixture(scope="module")
def emulator() -> Iterator[DubEmulator]:
    with DubEmulator(customers=300, seed=21) as dub:
        yield dub


@pytest.fixture
def dub(emulator: DubEmulator, monkeypatch: pytest.MonkeyPatch) -> DubEmulator:
    """The emulator as ``dub_default``, its request log empty."""
    monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", emulator.airflow_conn_json())
    emulator.clear_requests()
    return emulator


class _TaskInstance:
    """What the sensor's poke needs of a task instance outside a DAG run: no earlier watermark."""

    dag_id = "test_dub_bad_input"
    task_id = "wait"
    run_id = "manual__bad_input"
    map_index = -1

    def get_ti_count(self, **kwargs: Any) -> int:
        return 0  # no earlier successful run: the sensor's WatermarkStore reads nothing

    def xcom_pull(self, **kwargs: Any) -> None:
        return None

    def xcom_push(self, **kwargs: Any) -> None:
        raise AssertionError("nothing may be pushed for a bad input")


def _call(case: Case, dub: DubEmulator, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Give the case's value to its target and use it as a task would; return what came back."""
    arguments = {**case.also, case.argument: case.value}
    if case.target == "DubHook":
        return DubHook(**arguments).list_customers()
    if case.target.startswith("DubHook."):
        result = getattr(DubHook(), case.target.split(".", 1)[1])(**arguments)
        return result if isinstance(result, int) else list(result)
    if case.target == "connection":
        conn = json.loads(dub.airflow_conn_json())
        name = case.argument.removeprefix("extra.")
        if case.argument.startswith("extra."):
            conn["extra"] = {name: case.value}
        else:
            conn[name] = case.value
        monkeypatch.setenv("AIRFLOW_CONN_DUB_BAD", json.dumps(conn))
        return list(DubHook("dub_bad").iter_customers())
    context: dict[str, Any] = {
        "ti": _TaskInstance(),
        "outlet_events": {},
        "data_interval_start": pendulum.now("UTC"),
    }
    if case.target == "DubListCustomersOperator":
        return DubListCustomersOperator(task_id="list", **arguments).execute(context)  # type: ignore[arg-type]
    if case.target == "DubNewCustomersSensor":
        sensor = DubNewCustomersSensor(task_id="wait", **{"poke_interval": 0.1, "timeout": 1, **arguments})
        return sensor.poke(context)  # type: ignore[arg-type]
    raise AssertionError(f"unknown target {case.target}")


def _check_error(case: Case, error: BaseException) -> None:
    if case.error is not None:
        assert type(error).__name__ == case.error, f"{type(error).__name__}: {error}"
    assert str(error) == case.message
    if isinstance(error, DubValidationError):
        assert error.param == case.argument, "the error must name the argument given"
        assert error.allowed, "the error must say what is allowed"


@pytest.mark.parametrize("case", [c for c in CASES if not c.templated], ids=lambda c: c.id)
def test_bad_argument_fails_before_any_request(
    case: Case, dub: DubEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        result = _call(case, dub, monkeypatch)
    except Exception as error:
        _check_error(case, error)
    else:
        pytest.fail(f"no error for {case.argument}={case.value!r}; got {str(result)[:200]}")
    assert dub.request_count(None) == 0, "a request reached Dub despite the bad input"


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("case", [c for c in CASES if c.templated], ids=lambda c: c.id)
def test_bad_templated_value_fails_the_task_before_any_request(
    case: Case, dub: DubEmulator, capfd: pytest.CaptureFixture[str]
) -> None:
    dag_id, task_id = DAGS[case.target]
    capfd.readouterr()
    dag_run = run_dag(dag_id, conf={**case.also, case.argument: case.value})
    log = "".join(capfd.readouterr())
    assert task_states(dag_run) == {task_id: "failed"}
    assert case.message in log, f"the task log does not show {case.message!r}"
    if case.error is not None:
        assert f"{case.error}: {case.message}" in log
    assert dub.request_count(None) == 0, "a request reached Dub despite the bad input"


def test_every_argument_has_a_case() -> None:
    """No argument of the operator or the sensor, and no connection field, is left out of the table."""
    import inspect

    from airflow_provider_dub.get_provider_info import CONNECTION_FIELDS

    covered = {(case.target, case.argument) for case in CASES}
    for cls in (DubListCustomersOperator, DubNewCustomersSensor):
        for name in inspect.signature(cls.__init__).parameters:
            if name not in ("self", "kwargs"):
                assert (cls.__name__, name) in covered, f"{cls.__name__}({name}=...) has no bad-input case"
    for name in (*CONNECTION_FIELDS, "password", "host"):
        argument = name if name in ("password", "host") else f"extra.{name}"
        assert ("connection", argument) in covered, f"connection field {argument} has no bad-input case"
    for name in inspect.signature(DubHook.__init__).parameters:
        if name not in ("self", "kwargs"):
            assert ("DubHook", name) in covered, f"DubHook({name}=...) has no bad-input case"
    templated = {case.target for case in CASES if case.templated}
    assert templated == set(DAGS)


def test_the_docs_page_is_the_case_list() -> None:
    assert DOCS_PAGE.read_text() == render_rst(), (
        "docs/bad-input.rst and tests/reliability/bad_input.py disagree: "
        "run `python -m tests.reliability.bad_input > docs/bad-input.rst`"
    )
