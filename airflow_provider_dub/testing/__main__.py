"""Serve a Dub emulator standalone until SIGINT or SIGTERM.

    python -m airflow_provider_dub.testing --customers 10000 --port 8787 --seed 1

Prints the URL, the API key and a ready line ``AIRFLOW_CONN_DUB_DEFAULT='...'``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from airflow_provider_dub.testing.query import MAX_OFFSET_PAGE
from airflow_provider_dub.testing.server import DubEmulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_dub.testing",
        description="Serve a local emulator of Dub's customers API on 127.0.0.1.",
    )
    parser.add_argument("--customers", type=int, default=1000, help="number of customers")
    parser.add_argument("--port", type=int, default=0, help="port (0: a free one)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every API request")
    parser.add_argument(
        "--page-cap",
        type=int,
        default=MAX_OFFSET_PAGE,
        help=f"highest allowed `page` (Dub's: {MAX_OFFSET_PAGE}; lower it to test reads past the cap)",
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        help="requests per minute for the key (default: the business plan's)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Start the emulator, print how to reach it, serve until told to stop."""
    args = parse_args(argv)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    emulator = DubEmulator(
        customers=args.customers,
        seed=args.seed,
        page_cap=args.page_cap,
        latency=args.latency,
        rate_limit=args.rate_limit,
        port=args.port,
    )
    with emulator:
        print(f"Dub emulator serving {args.customers} customers at {emulator.url}")
        print(f"API key: {emulator.api_key}")
        print(f"AIRFLOW_CONN_DUB_DEFAULT='{emulator.airflow_conn_json()}'")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
