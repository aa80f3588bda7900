"""
The benchmark: our full read against the alternatives, memory on a large read, import cost.

``python -m benchmarks.run`` (or ``bash scripts/benchmark.sh``) starts the Dub emulator on loopback and
prints markdown tables. Every figure is measured in this run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from airflow_provider_dub.testing import DubEmulator

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str], env: dict[str, str], timeout: float = 1800) -> dict:
    done = subprocess.run(
        [sys.executable, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": tail[:120]}
    return json.loads(lines[-1])


def compare(customers: int, latency: float, rate_limit: int) -> None:
    from benchmarks.contenders import CONTENDERS

    with DubEmulator(customers=customers, seed=42, latency=latency) as dub:
        truth = dub.customer_ids()
        floor = math.ceil(customers / 100) / (rate_limit / 60)
        print(
            f"\n### Full read: {customers:,} customers, {latency * 1000:.0f} ms a request, limit {rate_limit}/min"
        )
        print(f"Rate-limit floor (ceil(N/100) requests at {rate_limit}/min): {floor:.1f} s\n")
        print("| reader | wall s | requests | records | distinct | missing | peak RSS MB | wall / ours |")
        print("|---|---|---|---|---|---|---|---|")
        ours_wall = None
        for name in CONTENDERS:
            key = dub.add_key(plan="business", rate_limit=rate_limit)  # a fresh rate-limit window each
            dub.clear_requests()
            with tempfile.NamedTemporaryFile("r", suffix=".ids") as ids_file:
                result = _run(
                    ["-m", "benchmarks.contenders", name],
                    {"DUB_URL": dub.url, "DUB_API_KEY": key, "DUB_IDS_OUT": ids_file.name},
                )
                ids = Path(ids_file.name).read_text().split()
            requests = dub.request_count()
            if "error" in result:
                print(f"| {name} | error: {result['error']} | {requests} | | | | | |")
                continue
            wall = result["wall"]
            ours_wall = ours_wall or wall
            missing = len(truth - set(ids))
            print(
                f"| {name} | {wall:.1f} | {requests} | {len(ids):,} | {len(set(ids)):,} | {missing:,} | "
                f"{result['peak_rss_mb']:.0f} | {wall / ours_wall:.2f} |"
            )
        print(f"\nOurs / floor: {ours_wall / floor:.2f}" if ours_wall else "")


def memory(customers: int) -> None:
    with DubEmulator(customers=customers, seed=7) as dub, tempfile.TemporaryDirectory() as tmp:
        result = _run(
            ["-m", "benchmarks.memory", f"file://{tmp}/customers.jsonl"],
            {"DUB_URL": dub.url, "DUB_API_KEY": dub.api_key},
        )
        print(f"\n### Memory: {customers:,} customers to JSON Lines (file://), no latency, no limit\n")
        if "error" in result:
            print(f"error: {result['error']}")
            return
        growth = result["peak_rss_mb"] - result["rss_after_10k_mb"]
        print("| records | RSS after 10,000 MB | peak RSS MB | growth MB |")
        print("|---|---|---|---|")
        print(
            f"| {result['records']:,} | {result['rss_after_10k_mb']:.0f} | {result['peak_rss_mb']:.0f} | {growth:.0f} |"
        )


_IMPORT_PROBE = """
import sys, time
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
import airflow_provider_dub.hooks.dub, airflow_provider_dub.operators.dub, airflow_provider_dub.sensors.dub
t2 = time.perf_counter()
heavy = [m for m in ("pyarrow", "pandas") if m in sys.modules]
print('{"sdk": %f, "provider": %f, "heavy": "%s"}' % (t1 - t0, t2 - t1, ",".join(heavy)))
"""


def import_cost(runs: int = 7) -> None:
    results = [_run(["-c", _IMPORT_PROBE], {}) for _ in range(runs)]
    provider_ms = statistics.median(r["provider"] for r in results) * 1000
    sdk_ms = statistics.median(r["sdk"] for r in results) * 1000
    heavy = results[-1]["heavy"] or "none"
    print(f"\n### Import cost (median of {runs} fresh processes)\n")
    print("| import airflow.sdk ms | then the provider's hook, operator, sensor ms | heavy modules loaded |")
    print("|---|---|---|")
    print(f"| {sdk_ms:.0f} | {provider_ms:.0f} | {heavy} |")


def machine() -> None:
    import airflow

    with open("/proc/cpuinfo") as cpuinfo:
        models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    cpu = models[0] if models else "?"
    print(
        f"Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, Airflow {airflow.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--rate-limit", type=int, default=1200)
    parser.add_argument("--memory-customers", type=int, default=1_000_000)
    parser.add_argument("--skip", nargs="*", default=[], choices=["compare", "memory", "import"])
    args = parser.parse_args()
    machine()
    if "compare" not in args.skip:
        compare(args.customers, args.latency, args.rate_limit)
    if "memory" not in args.skip:
        memory(args.memory_customers)
    if "import" not in args.skip:
        import_cost()


if __name__ == "__main__":
    main()
