"""
Dub's ``/customers`` protocol as pure functions and data, with no I/O.

The sync :class:`~airflow_provider_dub.hooks.dub.DubHook` and the async trigger are both thin transports
over this package: what to send (:mod:`.params`), how to page (:mod:`.pagination`), the top
customers of an ordered read (:mod:`.top`), what an error means and how long to wait before retrying
(:mod:`.responses`, :mod:`.retry`), and what one attempt's answer means (:mod:`.attempts`).
"""

from __future__ import annotations

from airflow_provider_dub.protocol.new_customers import NewCustomersPlan, Watermark
from airflow_provider_dub.protocol.pacer import WindowPacer, pacer_for
from airflow_provider_dub.protocol.pagination import CustomerReadPlan, ReadPlan, Request, SequentialPlan
from airflow_provider_dub.protocol.parallel import ParallelReadPlan
from airflow_provider_dub.protocol.params import (
    FILTER_PARAMS,
    GROUP_BY_VALUES,
    MAX_PAGE_SIZE,
    SORT_BY_VALUES,
    SORT_ORDER_VALUES,
    build_count_query,
    build_list_query,
    build_new_customers_plan,
    build_read_plan,
)
from airflow_provider_dub.protocol.responses import (
    error_from_response,
    parse_answer,
    parse_count,
    parse_count_groups,
    parse_customer_page,
)
from airflow_provider_dub.protocol.retry import (
    RetryLoop,
    RetryPolicy,
    retry_delay,
    wait_from_headers,
)
from airflow_provider_dub.protocol.top import TopCustomers, is_top_read, top_of

__all__ = [
    "FILTER_PARAMS",
    "GROUP_BY_VALUES",
    "MAX_PAGE_SIZE",
    "SORT_BY_VALUES",
    "SORT_ORDER_VALUES",
    "CustomerReadPlan",
    "NewCustomersPlan",
    "ParallelReadPlan",
    "ReadPlan",
    "Request",
    "RetryLoop",
    "RetryPolicy",
    "SequentialPlan",
    "TopCustomers",
    "Watermark",
    "WindowPacer",
    "build_count_query",
    "build_list_query",
    "build_new_customers_plan",
    "build_read_plan",
    "error_from_response",
    "is_top_read",
    "pacer_for",
    "parse_answer",
    "parse_count",
    "parse_count_groups",
    "parse_customer_page",
    "retry_delay",
    "top_of",
    "wait_from_headers",
]
