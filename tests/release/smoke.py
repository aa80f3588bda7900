"""
Smoke test of an installed wheel (run by scripts/checks/wheel.sh in a fresh virtualenv, not by pytest).

``airflow providers list`` shows the provider, and the hook reads every customer of an emulator once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def main(airflow: str) -> None:
    from airflow.sdk import Connection

    import airflow_provider_dub
    from airflow_provider_dub.hooks.dub import DubHook
    from airflow_provider_dub.testing import DubEmulator

    where = os.path.dirname(airflow_provider_dub.__file__)
    if "site-packages" not in where:
        sys.exit(f"airflow_provider_dub was imported from {where}, not from the installed wheel")
    listed = subprocess.run(
        [airflow, "providers", "list", "-o", "json"], check=True, capture_output=True, text=True
    ).stdout
    packages = {provider["package_name"] for provider in json.loads(listed)}
    if "airflow-provider-dub" not in packages:
        sys.exit(f"airflow providers list does not show airflow-provider-dub: {sorted(packages)}")
    with DubEmulator(customers=450, seed=3) as dub:
        conn = Connection(conn_id="dub_smoke", conn_type="dub", host=dub.url, password=dub.api_key)
        os.environ["AIRFLOW_CONN_DUB_SMOKE"] = conn.as_json()
        ids = [customer["id"] for customer in DubHook("dub_smoke").iter_customers(page_size=50)]
        expected = {customer["id"] for customer in dub.customers()}
    if len(ids) != len(set(ids)) or set(ids) != expected:
        sys.exit(f"the read from the installed wheel returned {len(ids)} ids for {len(expected)} customers")
    print(f"    provider listed; {len(ids)} customers read exactly once from the installed wheel")


if __name__ == "__main__":
    main(sys.argv[1])
