"""Apache Airflow provider for Dub (dub.co)."""

from __future__ import annotations

__version__ = "0.1.0"
