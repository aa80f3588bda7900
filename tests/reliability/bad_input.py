"""
The bad-input table: every argument of the hook, the operator and the sensor (and the connection
they read) with wrong types and values, and the exact error each gets, before any request is sent.

``tests/reliability/test_bad_input.py`` runs every case against the emulator; ``docs/bad-input.rst``
is generated from the same list and a test fails when the two disagree. Regenerate the page with::

    python -m tests.reliability.bad_input > docs/bad-input.rst
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

OUTPUT = "file:///tmp/dub-bad-input/customers.jsonl"

_FILTERS = (
    "'email', 'external_id', 'search', 'country', 'link_id', 'program_id', 'partner_id', 'customer_ids'"
)
_LIST_PARAMS = (
    f"{_FILTERS}, 'include_expanded_fields', 'sort_by', 'sort_order', 'page', 'page_size', "
    "'starting_after', 'ending_before'"
)
_READ_PARAMS = f"{_FILTERS}, 'include_expanded_fields', 'sort_by', 'sort_order', 'page_size', 'limit'"
_COUNT_PARAMS = f"{_FILTERS}, 'group_by'"
_CUSTOMER_IDS = (
    "a list of up to 250 customer ids, e.g. ['cus_1', 'cus_2'], or one string of ids separated by "
    "commas, or a JSON list"
)
_SORT_BY = "'createdAt', 'saleAmount', 'firstSaleAt', 'subscriptionCanceledAt'"
_NO_SCHEME_HANDLER = (
    "'file://', or a scheme whose provider is installed (s3:// needs apache-airflow-providers-amazon[s3fs])"
)


@dataclass(frozen=True)
class Case:
    """
    One bad input and the error it must get.

    :param target: what is given the value: ``DubHook`` (constructor), ``DubHook.<method>``,
        ``connection`` (a field of the Dub connection), ``DubListCustomersOperator``, ``DubNewCustomersSensor``.
    :param argument: the argument, as the caller writes it and as the error names it
        (``password``, ``host`` and ``extra.<name>`` for the connection).
    :param value: the bad value; for a templated case, the param the template renders.
    :param message: the error's exact text.
    :param templated: given as ``"{{ params.<argument> }}"`` in a DAG run (``dag.test()``).
    :param also: other arguments the case needs (e.g. an ``output_path`` for an ``output_format``).
    :param error: the exception's class name; ``None`` for Airflow's own checks, whose class differs
        between Airflow versions (``AirflowException`` on 3.1, ``ValueError`` on 3.3).
    """

    target: str
    argument: str
    value: Any
    message: str
    templated: bool = False
    also: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = "DubValidationError"

    @property
    def id(self) -> str:
        how = "templated" if self.templated else "argument"
        return f"{self.target}-{self.argument}-{how}-{self.value!r}"[:90]


def _invalid(argument: str, problem: str, allowed: str) -> str:
    return f"Invalid value for '{argument}': {problem}. Allowed: {allowed}."


def _out_of_range(argument: str, value: Any, allowed: str) -> str:
    return _invalid(argument, f"{value} is out of range", allowed)


def _not_integer(argument: str, value: Any, allowed: str) -> str:
    return _invalid(argument, f"expected an integer, got {value!r}", allowed)


def _not_seconds(argument: str, value: Any) -> str:
    return _invalid(
        argument, f"{value!r} is not a finite number >= 0", "seconds, e.g. 300 (0 turns retries off)"
    )


def _not_string(argument: str, value: Any) -> str:
    return _invalid(argument, f"expected a string, got {type(value).__name__}", "a non-empty string")


def _not_boolean(argument: str, value: Any) -> str:
    return _invalid(argument, f"expected a boolean, got {value!r}", "True or False")


def _not_country(value: str) -> str:
    return _invalid("country", f"{value!r} is not a country code", "an ISO 3166-1 alpha-2 code, e.g. 'US'")


def _not_choice(argument: str, value: str, allowed: str) -> str:
    return _invalid(argument, f"{value!r} is not one of the allowed values", allowed)


def _bad_ids(problem: str) -> str:
    return _invalid("customer_ids", problem, _CUSTOMER_IDS)


def _not_an_id(value: str) -> str:
    return _bad_ids(f"{value!r} is not a customer id (empty, or with a comma or a space)")


_NO_IDS = _bad_ids("an empty list selects no customer (leave it unset, None or '', for every customer)")


def _no_scheme_handler(scheme: str) -> str:
    return _invalid(
        "output_path",
        f"no filesystem handles the scheme {scheme!r} (Protocol not known: {scheme})",
        _NO_SCHEME_HANDLER,
    )


def _no_scheme(path: str) -> str:
    return _invalid(
        "output_path",
        f"{path!r} has no scheme",
        "a URL such as 'file:///data/customers.jsonl' or 's3://bucket/key'",
    )


_FORMATS = "'jsonl', 'csv', 'parquet'"


def _unknown_format(value: str) -> str:
    return _invalid("output_format", f"{value!r} is not a known format", _FORMATS)


def _extra(name: str, value: Any, problem: str, expected: str, label: str) -> str:
    """A connection extra's error: ``problem`` is ``type`` (not a finite number of its kind) or ``range``."""
    kind = "an integer" if expected.startswith("an integer") else "a number"
    text = f"expected {kind}, got {value!r}" if problem == "type" else f"{value!r} is out of range"
    return _invalid(f"extra.{name}", text, f"{expected} ({label})")


def _not_base_url(url: str) -> str:
    return _invalid(
        "host", f"{url!r} is not an http(s) URL", "a base URL such as 'https://api.dub.co' (empty: Dub's API)"
    )


def _not_since(value: Any, allowed: str = "an ISO 8601 date-time, e.g. '2026-01-31T00:00:00Z'") -> str:
    return _invalid("since", f"{value!r} is not a date-time", allowed)


_RPM, _RPM_LABEL = "an integer >= 1", "Rate limit (requests per minute)"
_PARALLEL, _PARALLEL_LABEL = "an integer from 1 to 32", "Parallel requests"
_BUDGET, _BUDGET_LABEL = "a number >= 0", "Retry budget (seconds)"
_TIMEOUT = "a number >= 0.001"
_NOT_DEFINED = "The conn_id `nosuch` isn't defined"
_HOOK = "DubHook"
_LIST = "DubHook.list_customers"
_ITER = "DubHook.iter_customers"
_COUNT = "DubHook.count_customers"
_CONN = "connection"
_OPERATOR = "DubListCustomersOperator"
_SENSOR = "DubNewCustomersSensor"

CASES: list[Case] = [
    # -- DubHook ---------------------------------------------------------------------------------
    Case(_HOOK, "dub_conn_id", "nosuch", _NOT_DEFINED, error="AirflowNotFoundException"),
    Case(_HOOK, "max_retry_seconds", -1, _not_seconds("max_retry_seconds", -1)),
    Case(_HOOK, "max_retry_seconds", "forever", _not_seconds("max_retry_seconds", "forever")),
    Case(_HOOK, "max_retry_seconds", float("inf"), _not_seconds("max_retry_seconds", float("inf"))),
    Case(
        _HOOK, "requests_per_minute", "fast", _not_integer("requests_per_minute", "fast", "an integer >= 0")
    ),
    Case(_HOOK, "requests_per_minute", -5, _out_of_range("requests_per_minute", -5, "an integer >= 0")),
    # -- its methods -----------------------------------------------------------------------------
    Case(_LIST, "email", 0, _not_string("email", 0)),
    Case(_LIST, "search", ["ann"], _not_string("search", ["ann"])),
    Case(_LIST, "country", "USA", _not_country("USA")),
    Case(_LIST, "country", 5, _not_string("country", 5)),
    Case(_LIST, "include_expanded_fields", "maybe", _not_boolean("include_expanded_fields", "maybe")),
    Case(_LIST, "sort_by", "sales", _not_choice("sort_by", "sales", _SORT_BY)),
    Case(_LIST, "sort_order", "DESC", _not_choice("sort_order", "DESC", "'asc', 'desc'")),
    Case(_LIST, "page", 0, _out_of_range("page", 0, "an integer >= 1")),
    Case(_LIST, "page", "1e3", _not_integer("page", "1e3", "an integer >= 1")),
    Case(_LIST, "page_size", 101, _out_of_range("page_size", 101, "an integer from 1 to 100")),
    Case(_LIST, "page_size", 2.5, _not_integer("page_size", 2.5, "an integer from 1 to 100")),
    Case(_LIST, "page_size", True, _not_integer("page_size", True, "an integer from 1 to 100")),
    Case(_LIST, "starting_after", 5, _not_string("starting_after", 5)),
    Case(
        _LIST,
        "starting_after",
        "cus_a",
        _invalid(
            "starting_after", "cannot be used together with 'ending_before'", "only one of the two cursors"
        ),
        also={"ending_before": "cus_b"},
    ),
    Case(
        _LIST,
        "sort_by",
        "saleAmount",
        _invalid(
            "sort_by",
            "cursor pagination ('starting_after') only supports sorting by createdAt",
            "'createdAt' (or leave sort_by unset) with a cursor; other sorts need 'page'",
        ),
        also={"starting_after": "cus_a"},
    ),
    Case(
        _LIST,
        "page",
        2,
        _invalid("page", "cannot be used together with 'starting_after'", "page 1 or unset"),
        also={"starting_after": "cus_a"},
    ),
    Case(_LIST, "pagesize", 10, _invalid("pagesize", "unknown parameter for GET /customers", _LIST_PARAMS)),
    Case(_LIST, "customer_ids", [], _NO_IDS),
    Case(_LIST, "customer_ids", "cus_1 cus_2", _not_an_id("cus_1 cus_2")),
    Case(_ITER, "page_size", 0, _out_of_range("page_size", 0, "an integer from 1 to 100")),
    Case(_ITER, "limit", 0, _out_of_range("limit", 0, "an integer >= 1")),
    Case(_ITER, "limit", "all", _not_integer("limit", "all", "an integer >= 1")),
    Case(
        _ITER,
        "page",
        2,
        _invalid(
            "page",
            "unknown parameter for iter_customers (paging is done for you; 'page' and cursors are not taken)",
            _READ_PARAMS,
        ),
    ),
    Case(_ITER, "include_expanded_fields", 2, _not_boolean("include_expanded_fields", 2)),
    Case(_ITER, "customer_ids", ["cus_1,cus_2"], _not_an_id("cus_1,cus_2")),
    Case(_ITER, "customer_ids", "[cus_1]", _bad_ids("'[cus_1]' is not a list")),
    Case(_COUNT, "program_id", 1, _not_string("program_id", 1)),
    Case(
        _COUNT,
        "sort_by",
        "createdAt",
        _invalid("sort_by", "unknown parameter for GET /customers/count", _COUNT_PARAMS),
    ),
    Case(_COUNT, "customer_ids", [1], _bad_ids("expected customer ids as strings, got int")),
    Case(_COUNT, "group_by", "city", _not_choice("group_by", "city", "'country', 'linkId', 'partnerId'")),
    Case(
        _COUNT, "group_by", "link_id", _not_choice("group_by", "link_id", "'country', 'linkId', 'partnerId'")
    ),
    Case(
        _COUNT,
        "group_by",
        "country",
        _invalid(
            "group_by",
            "Dub's count ignores customerIds, so a count filtered by customer_ids cannot be grouped",
            "no group_by with customer_ids (group the customers of iter_customers(customer_ids=...))",
        ),
        also={"customer_ids": ["cus_1"]},
    ),
    # -- the connection ------------------------------------------------------------------------------
    Case(
        _CONN,
        "password",
        "",
        _invalid(
            "password", "the connection's API key field (password) is empty", "a Dub API key ('dub_...')"
        ),
    ),
    Case(
        _CONN,
        "password",
        "dub_abc def",
        _invalid(
            "password",
            "the connection's API key (password) contains spaces or control characters",
            "a Dub API key ('dub_...') pasted without line breaks",
        ),
    ),
    Case(
        _CONN,
        "password",
        "dub_€uro",
        _invalid(
            "password",
            "the connection's API key (password) contains characters that are not ASCII",
            "a Dub API key: 'dub_' and letters and digits",
        ),
    ),
    Case(_CONN, "host", "ftp://dub.example", _not_base_url("ftp://dub.example")),
    Case(_CONN, "host", "http://", _not_base_url("http://")),
    Case(_CONN, "host", "api.dub.co:https", _not_base_url("https://api.dub.co:https")),
    Case(_CONN, "host", "not a url", _not_base_url("https://not a url")),
    Case(
        _CONN,
        "extra.requests_per_minute",
        "fast",
        _extra("requests_per_minute", "fast", "type", _RPM, _RPM_LABEL),
    ),
    Case(_CONN, "extra.requests_per_minute", 0, _extra("requests_per_minute", 0, "range", _RPM, _RPM_LABEL)),
    Case(
        _CONN,
        "extra.requests_per_minute",
        True,
        _extra("requests_per_minute", True, "type", _RPM, _RPM_LABEL),
    ),
    Case(
        _CONN,
        "extra.requests_per_minute",
        "inf",
        _extra("requests_per_minute", "inf", "type", _RPM, _RPM_LABEL),
    ),
    Case(
        _CONN, "extra.max_concurrency", 0, _extra("max_concurrency", 0, "range", _PARALLEL, _PARALLEL_LABEL)
    ),
    Case(
        _CONN, "extra.max_concurrency", 33, _extra("max_concurrency", 33, "range", _PARALLEL, _PARALLEL_LABEL)
    ),
    Case(
        _CONN,
        "extra.max_concurrency",
        1.5,
        _extra("max_concurrency", 1.5, "type", _PARALLEL, _PARALLEL_LABEL),
    ),
    Case(
        _CONN, "extra.max_retry_seconds", -5, _extra("max_retry_seconds", -5, "range", _BUDGET, _BUDGET_LABEL)
    ),
    Case(
        _CONN,
        "extra.max_retry_seconds",
        "forever",
        _extra("max_retry_seconds", "forever", "type", _BUDGET, _BUDGET_LABEL),
    ),
    Case(
        _CONN,
        "extra.max_retry_seconds",
        "inf",
        _extra("max_retry_seconds", "inf", "type", _BUDGET, _BUDGET_LABEL),
    ),
    Case(
        _CONN,
        "extra.connect_timeout",
        0,
        _extra("connect_timeout", 0, "range", _TIMEOUT, "Connect timeout (seconds)"),
    ),
    Case(
        _CONN,
        "extra.read_timeout",
        "soon",
        _extra("read_timeout", "soon", "type", _TIMEOUT, "Read timeout (seconds)"),
    ),
    Case(
        _CONN,
        "extra.read_timeout",
        "nan",
        _extra("read_timeout", "nan", "type", _TIMEOUT, "Read timeout (seconds)"),
    ),
    # -- DubListCustomersOperator --------------------------------------------------------------------
    Case(_OPERATOR, "dub_conn_id", "nosuch", _NOT_DEFINED, error="AirflowNotFoundException"),
    Case(_OPERATOR, "email", 42, _not_string("email", 42)),
    Case(_OPERATOR, "external_id", 7, _not_string("external_id", 7)),
    Case(_OPERATOR, "search", ["ann", "lee"], _not_string("search", ["ann", "lee"])),
    Case(_OPERATOR, "country", "USA", _not_country("USA")),
    Case(_OPERATOR, "link_id", 1.5, _not_string("link_id", 1.5)),
    Case(_OPERATOR, "program_id", True, _not_string("program_id", True)),
    Case(_OPERATOR, "partner_id", {"id": "pn_1"}, _not_string("partner_id", {"id": "pn_1"})),
    Case(_OPERATOR, "customer_ids", 5, _bad_ids("expected a list of strings, got int")),
    Case(_OPERATOR, "customer_ids", "[]", _NO_IDS),
    Case(_OPERATOR, "include_expanded_fields", "maybe", _not_boolean("include_expanded_fields", "maybe")),
    Case(_OPERATOR, "sort_order", "up", _not_choice("sort_order", "up", "'asc', 'desc'")),
    Case(_OPERATOR, "page_size", 0, _out_of_range("page_size", 0, "an integer from 1 to 100")),
    Case(_OPERATOR, "page_size", "ten", _not_integer("page_size", "ten", "an integer from 1 to 100")),
    Case(_OPERATOR, "max_records", 0, _out_of_range("max_records", 0, "an integer >= 1")),
    Case(_OPERATOR, "max_records", "all", _not_integer("max_records", "all", "an integer >= 1")),
    Case(_OPERATOR, "max_xcom_records", 0, _out_of_range("max_xcom_records", 0, "an integer >= 1")),
    Case(_OPERATOR, "output_path", "nosuch://x", _no_scheme_handler("nosuch")),
    Case(_OPERATOR, "output_path", "/tmp/customers.jsonl", _no_scheme("/tmp/customers.jsonl")),
    Case(_OPERATOR, "output_format", "xml", _unknown_format("xml"), also={"output_path": OUTPUT}),
    Case(_OPERATOR, "output_format", "jsnol", _unknown_format("jsnol")),
    Case(_OPERATOR, "output_path", 123, _invalid("output_path", "expected a string, got int", "a string")),
    Case(
        _OPERATOR,
        "output_format",
        5,
        _invalid("output_format", "expected a string, got int", _FORMATS),
        also={"output_path": OUTPUT},
    ),
    Case(
        _OPERATOR,
        "output_conn_id",
        5,
        _invalid("output_conn_id", "expected a string, got int", "a string"),
        also={"output_path": OUTPUT},
    ),
    # templated: the DAG's value is "{{ params.<argument> }}", the run's param renders to a bad one
    Case(_OPERATOR, "dub_conn_id", "nosuch", _NOT_DEFINED, templated=True, error="AirflowNotFoundException"),
    Case(_OPERATOR, "country", "USA", _not_country("USA"), templated=True),
    Case(
        _OPERATOR,
        "include_expanded_fields",
        "maybe",
        _not_boolean("include_expanded_fields", "maybe"),
        templated=True,
    ),
    Case(_OPERATOR, "sort_by", "sales", _not_choice("sort_by", "sales", _SORT_BY), templated=True),
    Case(
        _OPERATOR, "page_size", 0, _out_of_range("page_size", 0, "an integer from 1 to 100"), templated=True
    ),
    Case(
        _OPERATOR,
        "max_xcom_records",
        0,
        _out_of_range("max_xcom_records", 0, "an integer >= 1"),
        templated=True,
    ),
    Case(_OPERATOR, "max_records", -1, _out_of_range("max_records", -1, "an integer >= 1"), templated=True),
    Case(_OPERATOR, "output_path", "nosuch://x", _no_scheme_handler("nosuch"), templated=True),
    Case(
        _OPERATOR,
        "output_format",
        "xml",
        _unknown_format("xml"),
        templated=True,
        also={"output_path": OUTPUT},
    ),
    # -- DubNewCustomersSensor -----------------------------------------------------------------------
    Case(_SENSOR, "dub_conn_id", "nosuch", _NOT_DEFINED, error="AirflowNotFoundException"),
    Case(_SENSOR, "email", 1, _not_string("email", 1)),
    Case(_SENSOR, "external_id", 2, _not_string("external_id", 2)),
    Case(_SENSOR, "search", 3, _not_string("search", 3)),
    Case(_SENSOR, "country", "USA", _not_country("USA")),
    Case(_SENSOR, "link_id", [], _not_string("link_id", [])),
    Case(_SENSOR, "program_id", 0, _not_string("program_id", 0)),
    Case(_SENSOR, "partner_id", 0.5, _not_string("partner_id", 0.5)),
    Case(_SENSOR, "customer_ids", ["cus_1", ""], _not_an_id("")),
    Case(_SENSOR, "include_expanded_fields", "maybe", _not_boolean("include_expanded_fields", "maybe")),
    Case(_SENSOR, "since", "not a date", _not_since("not a date")),
    Case(_SENSOR, "since", "2026-02-30", _not_since("2026-02-30")),
    Case(_SENSOR, "since", 5, _not_since(5, "an ISO 8601 string or a datetime")),
    Case(_SENSOR, "min_new", 0, _out_of_range("min_new", 0, "an integer >= 1")),
    Case(
        _SENSOR,
        "min_new",
        10,
        _invalid(
            "min_new", "10 is more than max_xcom_records=5 and there is no output_path", "<= max_xcom_records"
        ),
        also={"max_xcom_records": 5},
    ),
    Case(_SENSOR, "max_xcom_records", -1, _out_of_range("max_xcom_records", -1, "an integer >= 0")),
    Case(_SENSOR, "output_path", "nosuch://x", _no_scheme_handler("nosuch")),
    Case(_SENSOR, "output_format", "xml", _unknown_format("xml"), also={"output_path": OUTPUT}),
    Case(_SENSOR, "output_format", "jsnol", _unknown_format("jsnol")),
    Case(
        _SENSOR,
        "output_path",
        ["s3://bucket/key"],
        _invalid("output_path", "expected a string, got list", "a string"),
    ),
    Case(
        _SENSOR,
        "output_format",
        ["csv"],
        _invalid("output_format", "expected a string, got list", _FORMATS),
        also={"output_path": OUTPUT},
    ),
    Case(
        _SENSOR,
        "output_conn_id",
        5,
        _invalid("output_conn_id", "expected a string, got int", "a string"),
        also={"output_path": OUTPUT},
    ),
    Case(_SENSOR, "deferrable", "maybe", _not_boolean("deferrable", "maybe")),
    Case(
        _SENSOR,
        "poke_interval",
        "x",
        "Operator arg `poke_interval` must be timedelta object or a non-negative number",
        error=None,
    ),
    Case(
        _SENSOR,
        "timeout",
        -1,
        "Operator arg `timeout` must be timedelta object or a non-negative number",
        error=None,
    ),
    Case(
        _SENSOR,
        "mode",
        "x",
        "The mode must be one of ['poke', 'reschedule'],' .wait'; received 'x'.",
        error=None,
    ),
    Case(_SENSOR, "since", "not a date", _not_since("not a date"), templated=True),
    Case(_SENSOR, "min_new", 0, _out_of_range("min_new", 0, "an integer >= 1"), templated=True),
    Case(_SENSOR, "country", "USA", _not_country("USA"), templated=True),
    Case(_SENSOR, "output_path", "nosuch://x", _no_scheme_handler("nosuch"), templated=True),
    Case(_SENSOR, "output_format", "xml", _unknown_format("xml"), templated=True),
]

_SECTIONS = (
    (_HOOK, "DubHook", "The hook's constructor (its connection is looked up at the first request)."),
    (_LIST, "DubHook.list_customers", "One request, so it also takes Dub's own paging arguments."),
    (_ITER, "DubHook.iter_customers and iter_customer_pages", "A complete read: no ``page`` nor cursors."),
    (_COUNT, "DubHook.count_customers", "Filters and ``group_by``."),
    (
        _CONN,
        "The Dub connection",
        "Read by every hook, operator and sensor at its first request (here the connection ``dub_bad``).",
    ),
    (
        _OPERATOR,
        "DubListCustomersOperator",
        "Raised when the task runs, before its first request; *templated* rows are DAG runs whose "
        "``{{ params.<argument> }}`` renders the bad value.",
    ),
    (
        _SENSOR,
        "DubNewCustomersSensor",
        "Raised when the task runs, before its first request (Airflow's own checks of ``poke_interval``, "
        "``timeout`` and ``mode``: when the DAG is parsed).",
    ),
)


def _literal(text: str) -> str:
    return f"``{text}``" if text.strip() == text and text else f"``{text!r}``"


def render_rst(cases: list[Case] = CASES) -> str:
    """``docs/bad-input.rst``: the cases as one table per hook, method, connection, operator, sensor."""
    lines = [
        "Bad input",
        "=========",
        "",
        "Every argument of :class:`~airflow_provider_dub.hooks.dub.DubHook`,",
        ":class:`~airflow_provider_dub.operators.dub.DubListCustomersOperator` and",
        ":class:`~airflow_provider_dub.sensors.dub.DubNewCustomersSensor`, and every field of the",
        ":doc:`connection <connection>`, is checked **before the first request to Dub**. A wrong type or",
        "value fails with an error that names the argument and says what it accepts, mostly a",
        ":class:`~airflow_provider_dub.exceptions.DubValidationError`",
        "(``Invalid value for '<argument>': <problem>. Allowed: <what is allowed>.``).",
        "Templated arguments are checked after rendering, so a template that renders a bad value fails",
        "the same way when the task runs.",
        "",
        "These tables are generated from the cases of ``tests/reliability/bad_input.py``; the test",
        "``tests/reliability/test_bad_input.py`` gives each case to the hook, the operator or the sensor",
        "(the templated ones in real DAG runs with ``dag.test()``) against the Dub emulator, checks the",
        "error text below and that the emulator saw no request, and fails when this page and the cases",
        "disagree.",
        "",
    ]
    for target, title, intro in _SECTIONS:
        rows = [case for case in cases if case.target == target]
        if not rows:
            continue
        lines += [title, "-" * len(title), "", intro, "", ".. list-table::", "   :header-rows: 1"]
        lines += ["   :widths: 20 18 14 48", ""]
        lines += ["   * - Argument", "     - Bad value", "     - Given as", "     - Error", ""]
        for case in rows:
            value = repr(case.value)
            if case.also:
                value += " with " + ", ".join(f"{name}={v!r}" for name, v in case.also.items())
            how = f"template ``{{{{ params.{case.argument} }}}}``" if case.templated else "argument"
            error = f"{case.error}: " if case.error else "Airflow: "
            lines += [
                f"   * - ``{case.argument}``",
                f"     - {_literal(value)}",
                f"     - {how}",
                f"     - {_literal(error + case.message)}",
            ]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_rst(), end="")
