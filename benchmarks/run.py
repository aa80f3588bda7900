"""
The benchmark: our full read against the alternatives, memory on a large read, import cost.

``python -m benchmarks.run`` (or ``bash scripts/benchmark.sh``) starts the Dub emulator on loopback and
prints markdown tables. Every figure is measured in this run; the floors beside them are computed for
it (the latency floor, and the window floor simulated from the read's own start time: see
:mod:`benchmarks.window`). ``--long`` adds the sustained 1,000,000-customer read (about 9 minutes).
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
import time
from pathlib import Path

from airflow_provider_dub.testing import DubEmulator
from benchmarks.window import OtherClient, latency_floor, window_floor

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


def compare(customers: int, latency: float, rate_limit: int, concurrency: int = 8) -> None:
    from benchmarks.contenders import CONTENDERS

    with DubEmulator(customers=customers, seed=42, latency=latency, rate_limit=rate_limit) as dub:
        truth = dub.customer_ids()
        pages = math.ceil(customers / 100)
        floor = latency_floor(pages, concurrency, latency)
        print(
            f"\n### Full read, idle key: {customers:,} customers, {latency * 1000:.0f} ms a request, "
            f"limit {rate_limit:,}/min"
        )
        print(
            f"Latency floor ({pages} requests, {concurrency} in flight, no rate limit): {floor:.2f} s; "
            f"an idle key admits {rate_limit:,} requests at once\n"
        )
        print(
            "| reader | wall s | requests | 429 | records | distinct | missing | peak RSS MB | wall / ours |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        walls: dict[str, float] = {}
        for name in CONTENDERS:
            key = dub.add_key(plan="business", rate_limit=rate_limit)  # a fresh rate-limit window each
            dub.clear_requests()
            with tempfile.NamedTemporaryFile("r", suffix=".ids") as ids_file:
                result = _run(
                    ["-m", "benchmarks.contenders", name],
                    {"DUB_URL": dub.url, "DUB_API_KEY": key, "DUB_IDS_OUT": ids_file.name},
                )
                ids = Path(ids_file.name).read_text().split()
            log = dub.requests
            throttled = sum(1 for r in log if r.status == 429)
            if "error" in result:
                print(f"| {name} | error: {result['error']} | {len(log)} | {throttled} | | | | | |")
                continue
            wall = walls[name] = result["wall"]
            missing = len(truth - set(ids))
            print(
                f"| {name} | {wall:.1f} | {len(log)} | {throttled} | {len(ids):,} | {len(set(ids)):,} | "
                f"{missing:,} | {result['peak_rss_mb']:.0f} | {wall / walls['ours']:.2f} |"
            )
        if "ours" in walls:
            line = f"\nOurs / latency floor: {walls['ours'] / floor:.2f}"
            if "sequential_requests" in walls:
                line += f"; the sequential walk / ours: {walls['sequential_requests'] / walls['ours']:.1f}x"
            print(line)


def _read_ours(dub: DubEmulator, key: str, timeout: float) -> tuple[dict, set[str], list[str]]:
    """Run our reader in its own process against ``dub`` with ``key``; its result and the ids it read."""
    with tempfile.NamedTemporaryFile("r", suffix=".ids") as ids_file:
        result = _run(
            ["-m", "benchmarks.contenders", "ours"],
            {"DUB_URL": dub.url, "DUB_API_KEY": key, "DUB_IDS_OUT": ids_file.name},
            timeout=timeout,
        )
        ids = Path(ids_file.name).read_text().split()
    return result, dub.customer_ids(), ids


def window_reads(
    customers: int, latency: float, rate_limit: int, other_per_minute: int, concurrency: int = 8
) -> None:
    """
    A read the window limits: ``other_per_minute`` > 0 adds a second client using the same key.

    The floor is simulated from the read's own start time and request count (and the other client's
    actual requests): the earliest finish Dub's window allows.
    """
    shared = f", a second client on the key at {other_per_minute:,}/min" if other_per_minute else ""
    print(
        f"\n### Full read limited by the window: {customers:,} customers, {latency * 1000:.0f} ms a request, "
        f"limit {rate_limit:,}/min{shared}\n"
    )
    with DubEmulator(customers=customers, seed=5, latency=latency, rate_limit=rate_limit) as dub:
        key = dub.add_key(plan="business", rate_limit=rate_limit)
        other = OtherClient(dub.url, key, other_per_minute) if other_per_minute else None
        if other is not None:
            other.start()
            time.sleep(2.0)  # the other client is already using the key when the read starts
        expected = math.ceil(customers / 100) / (rate_limit / 60)
        result, truth, ids = _read_ours(dub, key, timeout=max(600.0, 4 * expected))
        if other is not None:
            other.stop()
        log = dub.requests
    theirs = [r for r in log if r.query == OtherClient.QUERY]
    ours = [r for r in log if r.query != OtherClient.QUERY]
    if "error" in result:
        print(f"error: {result['error']} after {len(ours)} requests")
        return
    admitted = sum(1 for r in ours if r.status != 429)
    floor = window_floor(
        admitted,
        result["started"],
        limit=rate_limit,
        concurrency=concurrency,
        latency=latency,
        others=[r.started + latency for r in theirs if r.status != 429],  # when they reached the limiter
    )
    minute = result["started"] % 60
    print(
        "| started at | wall s | window floor s | wall / floor | requests | 429 | records | distinct | missing |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| :{minute:04.1f} of a minute | {result['wall']:.1f} | {floor:.1f} | {result['wall'] / floor:.3f} | "
        f"{len(ours):,} | {len(ours) - admitted} | {len(ids):,} | {len(set(ids)):,} | {len(truth - set(ids)):,} |"
    )
    per_minute: dict[int, int] = {}
    for record in ours:
        if record.status != 429:
            minute_number = int((record.started + latency) // 60)
            per_minute[minute_number] = per_minute.get(minute_number, 0) + 1
    print(f"\nOur admitted requests per epoch minute: {list(per_minute.values())}")
    if theirs:
        print(
            f"The other client: {len(theirs):,} requests, "
            f"{sum(1 for r in theirs if r.status == 429):,} of them 429."
        )


def memory(customers: int) -> None:
    with (
        DubEmulator(customers=customers, seed=7, rate_limit=10**9) as dub,
        tempfile.TemporaryDirectory() as tmp,
    ):
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
    parser.add_argument("--shared-customers", type=int, default=200_000)
    parser.add_argument("--shared-other", type=int, default=600, help="the other client's requests a minute")
    parser.add_argument("--long-customers", type=int, default=1_000_000)
    parser.add_argument("--memory-customers", type=int, default=1_000_000)
    parser.add_argument(
        "--long",
        action="store_true",
        help="also the sustained read of --long-customers at 50 ms (about 9 minutes at 1,200/min)",
    )
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["compare", "shared", "long", "memory", "import"]
    )
    args = parser.parse_args()
    machine()
    if "compare" not in args.skip:
        compare(args.customers, args.latency, args.rate_limit)
    if "shared" not in args.skip:
        window_reads(args.shared_customers, 0.05, args.rate_limit, args.shared_other)
    if args.long and "long" not in args.skip:
        window_reads(args.long_customers, 0.05, args.rate_limit, 0)
    if "memory" not in args.skip:
        memory(args.memory_customers)
    if "import" not in args.skip:
        import_cost()


if __name__ == "__main__":
    main()
