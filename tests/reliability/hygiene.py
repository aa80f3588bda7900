"""What the hygiene tests look for: the key in a connection, customers' emails and names."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, quote_plus

from airflow_provider_dub.testing import DubEmulator

FAST = 1_000_000
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens on loopback


def pii(customers: list[dict[str, Any]]) -> set[str]:
    """Every customer's email and full name, as written and as they look in a URL's query."""
    values = set()
    for customer in customers:
        for value in (customer.get("email"), customer.get("name")):
            if value and (" " in value or "@" in value):
                values |= {value, quote(value), quote_plus(value), quote(value, safe="")}
    return values


def found(needles: set[str], text: str) -> list[str]:
    """The first few of ``needles`` that occur in ``text``."""
    return sorted(needle for needle in needles if needle in text)[:5]


def connection(dub: DubEmulator, key: str, host: str | None = None, **extra: Any) -> str:
    """A Dub connection's JSON (for ``AIRFLOW_CONN_...``) with ``key``, at the emulator or ``host``."""
    return json.dumps(
        {
            "conn_type": "dub",
            "host": host or dub.url,
            "password": key,
            "extra": {"requests_per_minute": FAST, **extra},
        }
    )
