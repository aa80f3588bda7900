"""Fixtures of the browser tests: the emulator, a real Airflow API server, a logged-in Chromium page.

Skipped (with the reason) on Airflow older than 3.3, without Playwright, or without Chromium outside CI.
Screenshots go to a temporary folder, or into ``docs/_static/`` with ``DUB_UPDATE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from packaging.version import Version

from airflow_provider_dub.testing import DubEmulator
from tests.browser.airflow_server import ADMIN_PASSWORD, ADMIN_USER, AirflowApiServer

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, FloatRect, Page

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = ROOT / "dags"
DOCS_STATIC = ROOT / "docs" / "_static"
MIN_AIRFLOW = Version("3.3.0")
#: Debian's Chromium, started as this machine needs it (no sandbox as root, no background traffic).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 1000}
ACTION_TIMEOUT_MS = 30_000


@pytest.fixture(scope="session", autouse=True)
def _requirements() -> None:
    """Skip the whole folder where it cannot run; in CI a missing browser is a failure."""
    import airflow

    if Version(airflow.__version__) < MIN_AIRFLOW:
        pytest.skip(
            "the browser tests target the Airflow 3.3 UI (a connection form built from provider info, "
            f"its Test button, its graph view); this is Airflow {airflow.__version__}"
        )
    pytest.importorskip("playwright.sync_api", reason="the browser extra (playwright) is not installed")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium: ``$DUB_TEST_CHROMIUM`` (set by scripts/services/chromium.sh) or on PATH."""
    path = os.environ.get("DUB_TEST_CHROMIUM") or shutil.which("chromium") or ""
    if path and os.access(path, os.X_OK):
        return path
    message = "Debian's chromium is not installed: `bash scripts/services/chromium.sh` installs it"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class Screenshots:
    """Where the screenshots go: the docs' folders when refreshing them, else a temporary folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, page: Page, relative: str, clip: FloatRect | None = None) -> Path:
        """Screenshot the page's viewport, or the ``clip`` rectangle of it."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), animations="disabled", caret="hide", clip=clip)
        return path


@pytest.fixture(scope="package")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Screenshots:
    if os.environ.get("DUB_UPDATE_SCREENSHOTS") == "1":
        return Screenshots(DOCS_STATIC)
    return Screenshots(tmp_path_factory.mktemp("screenshots"))


@pytest.fixture(scope="package")
def emulator() -> Iterator[DubEmulator]:
    with DubEmulator(customers=25, seed=7) as dub:
        yield dub


def example_dag_files() -> list[Path]:
    """The example DAG files shipped in ``dags/`` (none while they are being written)."""
    return sorted(path for path in EXAMPLE_DAGS.glob("*.py") if not path.name.startswith("_"))


@pytest.fixture(scope="package")
def airflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowApiServer]:
    """An API server whose DAG folder is the example DAGs, with a fresh SQLite database."""
    home = tmp_path_factory.mktemp("airflow-home")
    has_dags = bool(example_dag_files())
    server = AirflowApiServer(home, EXAMPLE_DAGS if has_dags else home / "dags")
    try:
        server.start(reserialize=has_dags)
        yield server
    finally:
        server.stop()


# Package scope: Playwright's sync API keeps an event loop running in this thread until it stops,
# which would break every later asyncio.run() in the session (dag.test() runs triggers with it).
@pytest.fixture(scope="package")
def browser_context(
    chromium_path: str, airflow_server: AirflowApiServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrowserContext]:
    """Chromium with a fresh profile, logged in to Airflow as the admin user."""
    from playwright.sync_api import sync_playwright

    # Chromium also writes under $HOME (e.g. ~/.cache/dconf): give it a temporary one.
    home = tmp_path_factory.mktemp("chromium-home")
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / "cache")}
    env["XDG_CONFIG_HOME"] = str(home / "config")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=chromium_path,
            env=env,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
            timezone_id="UTC",
            locale="en-US",
        )
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        try:
            log_in(context.pages[0] if context.pages else context.new_page(), airflow_server.url)
            yield context
        finally:
            context.close()


def log_in(page: Page, base_url: str) -> None:
    """Sign in through SimpleAuthManager's login page."""
    page.goto(f"{base_url}/")
    page.get_by_label("Username").fill(ADMIN_USER)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/")


@pytest.fixture
def page(browser_context: BrowserContext) -> Iterator[Page]:
    page = browser_context.new_page()
    try:
        yield page
    finally:
        page.close()
