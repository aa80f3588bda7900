"""Validation and wire names of the ``GET /customers`` and ``GET /customers/count`` parameters."""

from __future__ import annotations

import re
from typing import Any

import pytest

from airflow_provider_dub.exceptions import DubError, DubValidationError
from airflow_provider_dub.protocol.pagination import CustomerReadPlan
from airflow_provider_dub.protocol.params import (
    MAX_CUSTOMER_IDS,
    build_count_query,
    build_list_query,
    build_new_customers_plan,
    build_read_plan,
    filter_dropped_by_grouping,
)

SORT_BY_VALUES = ("createdAt", "saleAmount", "firstSaleAt", "subscriptionCanceledAt")

#: snake_case name, a good value, Dub's name, the value sent.
FILTER_MAPPING = [
    ("email", "jane@example.com", "email", "jane@example.com"),
    ("external_id", "ext-42", "externalId", "ext-42"),
    ("search", "jane", "search", "jane"),
    ("country", "US", "country", "US"),
    ("link_id", "link_1ABC", "linkId", "link_1ABC"),
    ("program_id", "prog_1ABC", "programId", "prog_1ABC"),
    ("partner_id", "pn_1ABC", "partnerId", "pn_1ABC"),
]
LIST_ONLY_MAPPING = [
    ("include_expanded_fields", True, "includeExpandedFields", "true"),
    ("include_expanded_fields", False, "includeExpandedFields", "false"),
    ("sort_by", "saleAmount", "sortBy", "saleAmount"),
    ("sort_order", "asc", "sortOrder", "asc"),
    ("page", 3, "page", "3"),
    ("page_size", 25, "pageSize", "25"),
    ("starting_after", "cus_01J0000000000000000000000A", "startingAfter", "cus_01J0000000000000000000000A"),
    ("ending_before", "cus_01J0000000000000000000000A", "endingBefore", "cus_01J0000000000000000000000A"),
]
LIST_PARAM_NAMES = sorted({name for name, *_ in FILTER_MAPPING + LIST_ONLY_MAPPING})
FILTER_NAMES = [name for name, *_ in FILTER_MAPPING]


def _raises_validation(func: Any, param: str, **kwargs: Any) -> DubValidationError:
    """Call ``func(**kwargs)``, expecting a DubValidationError about ``param``; return it."""
    with pytest.raises(DubValidationError) as excinfo:
        func(**kwargs)
    err = excinfo.value
    assert err.param == param
    assert param in str(err)
    assert err.allowed, "the error must state what is allowed"
    assert err.allowed in str(err)
    return err


# -- mapping to Dub's names ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value", "wire_name", "wire_value"), FILTER_MAPPING + LIST_ONLY_MAPPING)
def test_list_query_maps_each_parameter_to_dubs_name(name, value, wire_name, wire_value):
    assert build_list_query(**{name: value}) == {wire_name: wire_value}


@pytest.mark.parametrize(("name", "value", "wire_name", "wire_value"), FILTER_MAPPING)
def test_count_query_maps_each_filter_to_dubs_name(name, value, wire_name, wire_value):
    assert build_count_query(**{name: value}) == {wire_name: wire_value}


def test_list_query_with_every_parameter():
    query = build_list_query(
        email="jane@example.com",
        external_id="ext-42",
        search="jane",
        country="GB",
        link_id="link_1",
        program_id="prog_1",
        partner_id="pn_1",
        include_expanded_fields=True,
        sort_by="createdAt",
        sort_order="asc",
        page=1,
        page_size=100,
        starting_after="cus_1",
    )
    assert query == {
        "email": "jane@example.com",
        "externalId": "ext-42",
        "search": "jane",
        "country": "GB",
        "linkId": "link_1",
        "programId": "prog_1",
        "partnerId": "pn_1",
        "includeExpandedFields": "true",
        "sortBy": "createdAt",
        "sortOrder": "asc",
        "page": "1",
        "pageSize": "100",
        "startingAfter": "cus_1",
    }
    assert all(isinstance(value, str) for value in query.values())


def test_no_parameters_give_an_empty_query():
    assert build_list_query() == {}
    assert build_count_query() == {}


def test_country_is_sent_upper_case():
    assert build_list_query(country="de") == {"country": "DE"}
    assert build_count_query(country="fr") == {"country": "FR"}


@pytest.mark.parametrize(
    ("value", "expected"), [("true", "true"), ("False", "false"), ("TRUE", "true"), ("false", "false")]
)
def test_include_expanded_fields_accepts_boolean_strings(value, expected):
    """A templated field renders to a string; Dub itself only accepts "true"/"false"."""
    assert build_list_query(include_expanded_fields=value) == {"includeExpandedFields": expected}


@pytest.mark.parametrize("sort_by", SORT_BY_VALUES)
def test_every_sort_key_is_accepted(sort_by):
    assert build_list_query(sort_by=sort_by, sort_order="desc") == {"sortBy": sort_by, "sortOrder": "desc"}


# -- unset ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("unset", [None, ""])
@pytest.mark.parametrize("name", LIST_PARAM_NAMES)
def test_none_and_empty_string_mean_unset_in_list_query(name, unset):
    assert build_list_query(**{name: unset}) == {}


@pytest.mark.parametrize("unset", [None, ""])
@pytest.mark.parametrize("name", FILTER_NAMES)
def test_none_and_empty_string_mean_unset_in_count_query(name, unset):
    assert build_count_query(**{name: unset}) == {}


def test_unset_values_drop_only_their_own_filter():
    assert build_list_query(email="", country=None, search="jane", page_size="") == {"search": "jane"}


@pytest.mark.parametrize("unset", [None, ""])
def test_unset_values_in_read_plan_take_the_defaults(unset):
    plan = build_read_plan(
        email=unset,
        sort_by=unset,
        sort_order=unset,
        page_size=unset,
        limit=unset,
        include_expanded_fields=unset,
    )
    assert plan.filters == {}
    assert plan.page_size == 100
    assert plan.limit is None
    assert plan.sort_by is None
    assert plan.sort_order is None
    assert plan.ordered is False


# -- templated integers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "wire_name"), [("page_size", "pageSize"), ("page", "page")])
def test_string_integers_from_templates_are_accepted(name, wire_name):
    assert build_list_query(**{name: "50"}) == {wire_name: "50"}


def test_read_plan_accepts_string_integers():
    plan = build_read_plan(page_size="50", limit="10")
    assert plan.page_size == 50
    assert plan.limit == 10


@pytest.mark.parametrize("page_size", [1, 100, "1", "100"])
def test_page_size_bounds_are_inclusive(page_size):
    assert build_list_query(page_size=page_size) == {"pageSize": str(page_size)}
    assert build_read_plan(page_size=page_size).page_size == int(page_size)


# -- build_read_plan --------------------------------------------------------------------------------------


def test_read_plan_carries_filters_in_dubs_names_and_settings():
    plan = build_read_plan(
        email="jane@example.com",
        external_id="ext-1",
        country="nl",
        include_expanded_fields="true",
        sort_by="saleAmount",
        sort_order="desc",
        page_size=20,
        limit=5,
    )
    assert isinstance(plan, CustomerReadPlan)
    assert plan.filters == {
        "email": "jane@example.com",
        "externalId": "ext-1",
        "country": "NL",
        "includeExpandedFields": "true",
    }
    assert plan.page_size == 20
    assert plan.limit == 5
    assert plan.sort_by == "saleAmount"
    assert plan.sort_order == "desc"
    assert plan.ordered is True


def test_read_plan_defaults_to_full_pages_of_100():
    plan = build_read_plan()
    assert plan.page_size == 100
    assert plan.limit is None
    assert plan.ordered is False


@pytest.mark.parametrize("name", ["page", "starting_after", "ending_before", "pageSize", "foo"])
def test_read_plan_rejects_paging_parameters_and_unknown_names(name):
    err = _raises_validation(build_read_plan, name, **{name: "1"})
    assert "page_size" in str(err)  # the message names what is accepted


@pytest.mark.parametrize("limit", [0, -1, "0", "abc", True, 1.5, "2.5"])
def test_read_plan_rejects_bad_limit(limit):
    err = _raises_validation(build_read_plan, "limit", limit=limit)
    assert "integer" in err.allowed
    assert "1" in err.allowed


@pytest.mark.parametrize("page_size", [0, 101, "abc", True, 1.5])
def test_read_plan_rejects_bad_page_size(page_size):
    err = _raises_validation(build_read_plan, "page_size", page_size=page_size)
    assert "100" in err.allowed


def test_read_plan_rejects_bad_sort_by():
    err = _raises_validation(build_read_plan, "sort_by", sort_by="name")
    for allowed in SORT_BY_VALUES:
        assert allowed in str(err)


# -- bad values -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sort_by", ["name", "created_at", "createdat", "CreatedAt", "id", 1])
def test_bad_sort_by_names_the_allowed_values(sort_by):
    err = _raises_validation(build_list_query, "sort_by", sort_by=sort_by)
    for allowed in SORT_BY_VALUES:
        assert allowed in str(err)


@pytest.mark.parametrize("sort_order", ["DESC", "Asc", "ascending", "up", 0])
def test_bad_sort_order_names_the_allowed_values(sort_order):
    err = _raises_validation(build_list_query, "sort_order", sort_order=sort_order)
    assert "'asc'" in str(err)
    assert "'desc'" in str(err)


@pytest.mark.parametrize("page_size", [0, 101, "abc", True, False, 1.5, "1.5", -1, "0", "101", "1e2", [50]])
def test_bad_page_size(page_size):
    err = _raises_validation(build_list_query, "page_size", page_size=page_size)
    assert "integer" in str(err)
    assert "100" in err.allowed


@pytest.mark.parametrize("page", [0, "0", -1, "x", True, 1.5])
def test_bad_page(page):
    err = _raises_validation(build_list_query, "page", page=page)
    assert "integer" in str(err)
    assert "1" in err.allowed


@pytest.mark.parametrize("page_size", ["--5", "²"])
def test_malformed_digit_strings_raise_validation_error(page_size):
    with pytest.raises(DubValidationError) as excinfo:
        build_list_query(page_size=page_size)
    assert excinfo.value.param == "page_size"


def test_both_cursors_are_rejected():
    with pytest.raises(DubValidationError) as excinfo:
        build_list_query(starting_after="cus_1", ending_before="cus_2")
    err = excinfo.value
    assert err.param in ("starting_after", "ending_before")
    assert "starting_after" in str(err)
    assert "ending_before" in str(err)
    assert err.allowed and err.allowed in str(err)


@pytest.mark.parametrize("cursor", ["starting_after", "ending_before"])
@pytest.mark.parametrize("sort_by", ["saleAmount", "firstSaleAt", "subscriptionCanceledAt"])
def test_cursor_with_sort_other_than_created_at_is_rejected(cursor, sort_by):
    err = _raises_validation(build_list_query, "sort_by", sort_by=sort_by, **{cursor: "cus_1"})
    assert "createdAt" in str(err)
    assert cursor in str(err)


@pytest.mark.parametrize("cursor", ["starting_after", "ending_before"])
def test_cursor_with_created_at_and_either_order_is_accepted(cursor):
    for order in ("asc", "desc"):
        query = build_list_query(sort_by="createdAt", sort_order=order, **{cursor: "cus_1"})
        assert query["sortBy"] == "createdAt"
        assert query["sortOrder"] == order


@pytest.mark.parametrize("cursor", ["starting_after", "ending_before"])
@pytest.mark.parametrize("page", [2, "2", 7])
def test_cursor_with_page_beyond_1_is_rejected(cursor, page):
    err = _raises_validation(build_list_query, "page", page=page, **{cursor: "cus_1"})
    assert cursor in str(err)


def test_cursor_with_page_1_is_accepted():
    """Dub only refuses page > 1 together with a cursor."""
    assert build_list_query(page=1, starting_after="cus_1") == {"page": "1", "startingAfter": "cus_1"}


@pytest.mark.parametrize("name", ["pageSize", "sortBy", "externalId", "limit", "foo", "cursor"])
def test_unknown_parameter_names_are_rejected(name):
    err = _raises_validation(build_list_query, name, **{name: "x"})
    assert "unknown" in str(err)
    # the message lists the snake_case names that are accepted
    assert "page_size" in str(err)
    assert "external_id" in str(err)


@pytest.mark.parametrize(
    "name",
    ["include_expanded_fields", "sort_by", "sort_order", "page", "page_size", "starting_after", "limit"],
)
def test_count_query_rejects_non_filter_parameters(name):
    err = _raises_validation(build_count_query, name, **{name: "1"})
    assert "email" in str(err)


@pytest.mark.parametrize("value", ["maybe", "tru", "2", 2, 1, [], 0.0])
def test_bad_include_expanded_fields(value):
    err = _raises_validation(build_list_query, "include_expanded_fields", include_expanded_fields=value)
    assert "true" in err.allowed.lower()
    assert "false" in err.allowed.lower()


@pytest.mark.parametrize("country", ["USA", "U", "12", "U1", "U S", "united states", "🇺🇸"])
def test_country_must_be_two_letters(country):
    for func in (build_list_query, build_count_query, build_read_plan):
        err = _raises_validation(func, "country", country=country)
        assert re.search(r"alpha-2|two-letter|2-letter", err.allowed)


@pytest.mark.parametrize("name", FILTER_NAMES)
@pytest.mark.parametrize("value", [123, 1.5, True, ["a"], {"a": 1}])
def test_non_string_filters_are_rejected(name, value):
    for func in (build_list_query, build_count_query, build_read_plan):
        err = _raises_validation(func, name, **{name: value})
        assert "string" in str(err)


@pytest.mark.parametrize("name", ["starting_after", "ending_before"])
def test_non_string_cursor_is_rejected(name):
    err = _raises_validation(build_list_query, name, **{name: 123})
    assert "string" in str(err)


def test_validation_error_is_a_dub_error_and_a_value_error():
    with pytest.raises(DubValidationError) as excinfo:
        build_list_query(page_size=0)
    assert isinstance(excinfo.value, DubError)
    assert isinstance(excinfo.value, ValueError)


# -- customer_ids -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        ["cus_1", "cus_2"],
        ("cus_1", "cus_2"),
        [" cus_1 ", "cus_2", "cus_1"],  # stripped, sent once
        "cus_1,cus_2",
        " cus_1 , cus_2 ",
        '["cus_1", "cus_2"]',  # a JSON list
        "['cus_1', 'cus_2']",  # what "{{ params.ids }}" renders a list param to
    ],
)
def test_customer_ids_are_sent_comma_separated(value):
    for func in (build_list_query, build_count_query):
        assert func(customer_ids=value) == {"customerIds": "cus_1,cus_2"}
    assert build_read_plan(customer_ids=value).filters == {"customerIds": "cus_1,cus_2"}
    assert build_new_customers_plan(watermark=None, customer_ids=value).filters == {
        "customerIds": "cus_1,cus_2"
    }


def test_customer_ids_of_every_id_format_are_kept_as_given():
    ids = ["cus_1KAP4CDPBSVMMBMH9XX3YZZ0Z", "cus_Ab3dEf6hIj9kLm2nOp5qRs8t", "clx0a1b2c3d4e5f6g7h8i9j0k"]
    assert build_list_query(customer_ids=ids) == {"customerIds": ",".join(ids)}


def test_up_to_250_customer_ids_are_taken():
    ids = [f"cus_{n}" for n in range(MAX_CUSTOMER_IDS)]
    assert build_list_query(customer_ids=ids)["customerIds"].count(",") == MAX_CUSTOMER_IDS - 1


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ([], "empty list selects no customer"),
        ((), "empty list selects no customer"),
        ("[]", "empty list selects no customer"),
        ([""], "not a customer id"),
        (["cus_1", " "], "not a customer id"),
        (["cus_1,cus_2"], "not a customer id"),
        (["cus_1 cus_2"], "not a customer id"),
        ("cus_1 cus_2", "not a customer id"),
        ("cus_1,,cus_2", "not a customer id"),
        ("cus_1,", "not a customer id"),
        ([1, 2], "as strings, got int"),
        (["cus_1", None], "as strings, got NoneType"),
        ("[1, 2]", "as strings, got int"),
        ("[cus_1, cus_2]", "is not a list"),
        ('{"a": 1}', "not a customer id"),  # not a list literal: read as one id, with a space
        ({"cus_1"}, "expected a list of strings, got set"),
        (5, "expected a list of strings, got int"),
        ({"id": "cus_1"}, "expected a list of strings, got dict"),
        ([f"cus_{n}" for n in range(MAX_CUSTOMER_IDS + 1)], "do not fit"),
    ],
)
def test_bad_customer_ids(value, problem):
    for func in (build_list_query, build_count_query, build_read_plan):
        err = _raises_validation(func, "customer_ids", customer_ids=value)
        assert problem in str(err)
        assert "250" in err.allowed


@pytest.mark.parametrize("unset", [None, "", "  "])
def test_unset_customer_ids_drop_the_filter(unset):
    assert build_list_query(customer_ids=unset) == {}
    assert build_count_query(customer_ids=unset) == {}


def test_customer_ids_are_anded_with_the_other_filters():
    query = build_list_query(customer_ids=["cus_1"], country="us", sort_by="saleAmount")
    assert query == {"country": "US", "customerIds": "cus_1", "sortBy": "saleAmount"}


# -- group_by -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("group_by", ["country", "linkId", "partnerId"])
def test_count_query_takes_group_by(group_by):
    assert build_count_query(group_by=group_by, email="a@b.co") == {"email": "a@b.co", "groupBy": group_by}


@pytest.mark.parametrize(
    "group_by", ["Country", "link_id", "partner_id", "programId", "email", 1, ["country"]]
)
def test_bad_group_by_names_the_allowed_values(group_by):
    err = _raises_validation(build_count_query, "group_by", group_by=group_by)
    assert err.allowed == "'country', 'linkId', 'partnerId'"


@pytest.mark.parametrize("unset", [None, ""])
def test_unset_group_by_is_a_plain_count(unset):
    assert build_count_query(group_by=unset, country="US") == {"country": "US"}


def test_group_by_is_refused_with_customer_ids():
    """Dub's count ignores customerIds: such a count is made from a read, which cannot be grouped."""
    err = _raises_validation(build_count_query, "group_by", group_by="country", customer_ids=["cus_1"])
    assert "customer_ids" in str(err)


def test_group_by_is_only_for_counts():
    _raises_validation(build_list_query, "group_by", group_by="country")
    _raises_validation(build_read_plan, "group_by", group_by="country")


@pytest.mark.parametrize(
    ("filters", "dropped"),
    [
        ({"group_by": "country", "country": "US"}, "country"),
        ({"group_by": "linkId", "link_id": "link_1"}, "link_id"),
        ({"group_by": "linkId", "country": "US"}, None),
        ({"group_by": "country", "link_id": "link_1"}, None),
        ({"group_by": "partnerId", "partner_id": "pn_1"}, None),  # Dub keeps it: the plain count
        ({"country": "US"}, None),
    ],
)
def test_the_filter_dub_drops_when_grouping_by_its_field(filters, dropped):
    assert filter_dropped_by_grouping(build_count_query(**filters)) == dropped


# -- ordered reads with a limit -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "page_size"),
    [
        ({"sort_by": "saleAmount", "limit": 80, "page_size": 50}, 80),  # one request of 80
        ({"sort_order": "asc", "limit": 100, "page_size": 10}, 100),
        ({"sort_by": "saleAmount", "limit": 20, "page_size": 50}, 50),  # limit <= page_size: as given
        ({"sort_by": "saleAmount", "limit": 1000, "page_size": 50}, 50),  # the top read pages as asked
        ({"limit": 80, "page_size": 50}, 50),  # unordered: page_size as given
    ],
)
def test_ordered_read_with_a_limit_up_to_100_asks_for_it_in_one_page(params, page_size):
    assert build_read_plan(**params).page_size == page_size
