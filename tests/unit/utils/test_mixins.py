"""DubCustomersMixin: the task arguments the operator and the sensor share, defined and checked once."""

from __future__ import annotations

import inspect

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_dub.exceptions import DubValidationError
from airflow_provider_dub.hooks.dub import DubHook
from airflow_provider_dub.hooks.dub_async import DubAsyncHook
from airflow_provider_dub.operators.dub import DubListCustomersOperator
from airflow_provider_dub.protocol import FILTER_PARAMS
from airflow_provider_dub.sensors.dub import DubNewCustomersSensor
from airflow_provider_dub.utils.mixins import HOOK_PARAMS, DubCustomersMixin, check_hook_params

TASKS = [DubListCustomersOperator, DubNewCustomersSensor]


def _keyword_only(function) -> set[str]:
    parameters = inspect.signature(function).parameters.values()
    return {p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}


def test_hook_params_are_the_settings_both_hooks_take() -> None:
    assert set(HOOK_PARAMS) == {"max_retry_seconds", "requests_per_minute"}
    assert set(HOOK_PARAMS) == _keyword_only(DubHook.__init__) == _keyword_only(DubAsyncHook.__init__)


def test_good_hook_params_are_kept() -> None:
    assert check_hook_params(None) == {}
    assert check_hook_params({"max_retry_seconds": 7, "requests_per_minute": "0"}) == {
        "max_retry_seconds": 7,
        "requests_per_minute": "0",
    }


@pytest.mark.parametrize(
    ("hook_params", "param", "problem"),
    [
        ({"max_retries": 3}, "hook_params", "unknown setting 'max_retries'"),
        ({"timeout": 3, "max_retry_seconds": 1}, "hook_params", "unknown setting 'timeout'"),
        ('{"max_retry_seconds": 3}', "hook_params", "expected a dict, got str"),
        ({"max_retry_seconds": -1}, "hook_params.max_retry_seconds", "-1 is not a finite number >= 0"),
        ({"requests_per_minute": "many"}, "hook_params.requests_per_minute", "expected an integer"),
    ],
)
@pytest.mark.parametrize("task_class", TASKS)
def test_bad_hook_params_fail_when_the_task_is_built(task_class, hook_params, param, problem) -> None:
    with pytest.raises(DubValidationError) as raised:
        task_class(task_id="t", hook_params=hook_params)
    assert raised.value.param == param
    assert problem in raised.value.problem
    if param == "hook_params":
        assert raised.value.allowed == "'max_retry_seconds', 'requests_per_minute'"


@pytest.mark.parametrize(
    ("value", "expanded"),
    [
        (False, False),
        (None, False),
        ("", False),
        ("false", False),
        ("False", False),
        ("no", False),
        ("0", False),
        ("off", False),
        (True, True),
        ("true", True),
        ("yes", True),
        ("1", True),
    ],
)
@pytest.mark.parametrize("task_class", TASKS)
def test_include_expanded_fields_is_read_as_a_boolean(task_class, value, expanded) -> None:
    assert task_class(task_id="t", include_expanded_fields=value).expanded is expanded


@pytest.mark.parametrize("task_class", TASKS)
def test_include_expanded_fields_that_is_no_boolean_names_the_argument(task_class) -> None:
    with pytest.raises(DubValidationError) as raised:
        _ = task_class(task_id="t", include_expanded_fields="maybe").expanded
    assert raised.value.param == "include_expanded_fields"


@pytest.mark.parametrize("task_class", TASKS)
def test_filters_leave_unset_ones_out(task_class) -> None:
    task = task_class(
        task_id="t", country="US", email="", customer_ids=["cus_1"], include_expanded_fields=True
    )
    assert task.filters == {"country": "US", "customer_ids": ["cus_1"]}


@pytest.mark.parametrize("task_class", TASKS)
def test_the_shared_arguments_are_templated_in_both_tasks(task_class) -> None:
    shared = {"dub_conn_id", *FILTER_PARAMS, "include_expanded_fields", "output_path", "output_conn_id"}
    assert shared | {"output_format"} <= set(task_class.template_fields)
    assert "hook_params" not in task_class.template_fields


@pytest.mark.parametrize("task_class", TASKS)
def test_the_docstring_lists_every_argument_once(task_class) -> None:
    arguments = _keyword_only(task_class.__init__) | _keyword_only(DubCustomersMixin.__init__)
    doc = task_class.__doc__ or ""
    assert {name for name in arguments if doc.count(f":param {name}:") == 1} == arguments
    for name in task_class.template_fields:  # every templated argument says so
        entry = doc.split(f":param {name}:", 1)[1].split(":param ", 1)[0]
        assert "(templated)" in entry, name


@pytest.mark.parametrize("task_class", TASKS)
def test_default_args_and_partial_reach_the_shared_arguments(task_class) -> None:
    default_args = {"dub_conn_id": "dub_other", "hook_params": {"max_retry_seconds": 5}}
    with DAG(
        "mixin_args", schedule=None, start_date=pendulum.datetime(2026, 1, 1), default_args=default_args
    ):
        task = task_class(task_id="plain")
        mapped = task_class.partial(task_id="mapped", output_format="csv").expand(country=["US", "DE"])
    assert (task.dub_conn_id, task.hook_params) == ("dub_other", {"max_retry_seconds": 5})
    assert mapped.partial_kwargs["output_format"] == "csv"
