"""Provider information that Airflow reads through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_dub import __version__

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
        "password": "dub_xxxxxxxxxxxxxxxxxxxxxxxx",
    },
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider-info dict; it must validate against Airflow's provider_info schema."""
    return {
        "package-name": "airflow-provider-dub",
        "name": "Dub",
        "description": "`Dub <https://dub.co/>`__: links, conversions and partner programs.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Dub",
                "external-doc-url": "https://dub.co/docs/api-reference/introduction",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Dub",
                "python-modules": ["airflow_provider_dub.hooks.dub", "airflow_provider_dub.hooks.dub_async"],
            }
        ],
        "operators": [
            {
                "integration-name": "Dub",
                "python-modules": [
                    "airflow_provider_dub.operators.dub",
                    "airflow_provider_dub.transfers.dub_to_sql",
                ],
            }
        ],
        "sensors": [{"integration-name": "Dub", "python-modules": ["airflow_provider_dub.sensors.dub"]}],
        "triggers": [{"integration-name": "Dub", "python-modules": ["airflow_provider_dub.triggers.dub"]}],
        "connection-types": [
            {
                "connection-type": "dub",
                "hook-class-name": "airflow_provider_dub.hooks.dub.DubHook",
                "hook-name": "Dub",
                "conn-fields": CONNECTION_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
