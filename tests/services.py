"""
The services the tests need, each started by a script in ``scripts/services/`` that prints the
environment variables pointing the tests at it (scripts/test.sh evals them all).

Where a service's variable is not set, its tests skip: a developer may run a part of the suite without
PostgreSQL. In CI (``CI`` set), they fail instead: a service that did not start must not pass as a
green run with its tests quietly left out.
"""

from __future__ import annotations

import os

import pytest


def service_setting(variable: str, script: str) -> str:
    """Return ``$variable``; skip the test where it is not set, or fail it in CI.

    :param variable: the environment variable the service's script exports.
    :param script: the script's file name in ``scripts/services/``.
    """
    value = os.environ.get(variable, "")
    if value:
        return value
    message = (
        f'{variable} is not set: start the service with `eval "$(bash scripts/services/{script})"` '
        "(scripts/test.sh does)"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
