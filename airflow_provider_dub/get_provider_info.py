"""Provider information that Airflow reads through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_dub import __version__
from airflow_provider_dub.hooks.connection_schema import CONNECTION_FIELDS, UI_FIELD_BEHAVIOUR

__all__ = ["CONNECTION_FIELDS", "UI_FIELD_BEHAVIOUR", "get_provider_info"]


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
