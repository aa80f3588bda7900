"""A local emulator of Dub's customers API (standard library only).

``DubEmulator`` serves synthetic customers over HTTP with Dub's orderings,
validation messages, error envelope, rate limits and injectable faults;
``FaultKind`` names the faults. Run ``python -m airflow_provider_dub.testing``
to serve one standalone.
"""

from __future__ import annotations

from airflow_provider_dub.testing.faults import FaultKind, RequestRecord
from airflow_provider_dub.testing.server import DubEmulator

__all__ = ["DubEmulator", "FaultKind", "RequestRecord"]
