"""
The ``dub`` connection's fields: their defaults, form labels and JSON schema.

Read by the hooks (the defaults of the extras, their checks) and by
:mod:`~airflow_provider_dub.get_provider_info` (the connection form). Cheap to import.
"""

from __future__ import annotations

from typing import Any

DEFAULT_BASE_URL = "https://api.dub.co"
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
DEFAULT_MAX_RETRY_SECONDS = 300.0
DEFAULT_REQUESTS_PER_MINUTE = 1200
DEFAULT_MAX_CONCURRENCY = 8

CONNECTION_FIELDS: dict[str, dict[str, Any]] = {
    "requests_per_minute": {
        "label": "Rate limit (requests per minute)",
        "description": "Your Dub plan's API rate limit per key: Business 1200, Advanced/Enterprise 3000.",
        "schema": {"type": ["integer", "null"], "default": DEFAULT_REQUESTS_PER_MINUTE, "minimum": 1},
    },
    "max_concurrency": {
        "label": "Parallel requests",
        "description": "How many requests a full read may have in flight at once (the rate limit still applies).",
        "schema": {
            "type": ["integer", "null"],
            "default": DEFAULT_MAX_CONCURRENCY,
            "minimum": 1,
            "maximum": 32,
        },
    },
    "max_retry_seconds": {
        "label": "Retry budget (seconds)",
        "description": "How long one request may go on retrying (429, 5xx, network) after its first failure.",
        "schema": {"type": ["number", "null"], "default": DEFAULT_MAX_RETRY_SECONDS, "minimum": 0},
    },
    "connect_timeout": {
        "label": "Connect timeout (seconds)",
        "description": "Timeout for opening a connection to Dub.",
        "schema": {"type": ["number", "null"], "default": DEFAULT_CONNECT_TIMEOUT, "exclusiveMinimum": 0},
    },
    "read_timeout": {
        "label": "Read timeout (seconds)",
        "description": "Timeout for Dub's answer to one request.",
        "schema": {"type": ["number", "null"], "default": DEFAULT_READ_TIMEOUT, "exclusiveMinimum": 0},
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["login", "schema", "port"],
    "relabeling": {"host": "Base URL", "password": "API key"},
    "placeholders": {
        "host": DEFAULT_BASE_URL,
        "password": "dub_...",
    },
}
