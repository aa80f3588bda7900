"""Every example DAG in ``dags/`` parses, and its graph renders in the UI; the docs show these images.

The docs place each graph under its file through ``_static/dags/dags.json`` (DAG id -> file name),
written here with the images. Outside ``DUB_UPDATE_SCREENSHOTS=1`` the committed images and manifest
must match the DAGs of ``dags/``, so that the documentation shows every example DAG.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import DOCS_STATIC, example_dag_files

if TYPE_CHECKING:
    from playwright.sync_api import FloatRect, Locator, Page

    from tests.browser.airflow_server import AirflowApiServer
    from tests.browser.conftest import Screenshots

REFRESH = "DUB_UPDATE_SCREENSHOTS=1 python -m pytest tests/browser"
DEPENDENCY_CHOICES = re.compile("Only tasks|External conditions|All Dag Dependencies")


def show_graph(page: Page, base_url: str, dag_id: str) -> Locator:
    """Open a DAG's graph view, full width, with its assets and the DAGs it depends on; return its nodes."""
    page.goto(f"{base_url}/dags/{dag_id}")
    page.get_by_role("button", name="Show Graph (Press g)").click()
    collapse = page.get_by_role("button", name="Collapse Details Panel")
    if collapse.count():
        collapse.click()
    nodes = page.locator(".react-flow__node")
    nodes.first.wait_for()
    page.get_by_role("button", name="Options").click()
    page.get_by_role("combobox").filter(has_text=DEPENDENCY_CHOICES).click()
    page.get_by_role("option", name="All Dag Dependencies").click()
    page.keyboard.press("Escape")
    page.wait_for_load_state("networkidle")
    return nodes


def settled(nodes: Locator, attempts: int = 40) -> FloatRect:
    """The nodes' rectangle once the layout has stopped moving (two equal readings in a row)."""
    previous = around(nodes)
    for _ in range(attempts):
        nodes.page.wait_for_timeout(250)
        current = around(nodes)
        if current == previous:
            return current
        previous = current
    raise AssertionError("the graph layout did not settle")


def around(nodes: Locator, margin: float = 32) -> FloatRect:
    """The rectangle that holds every node, with a margin: the graph without the empty canvas."""
    boxes = [box for node in nodes.all() if (box := node.bounding_box())]
    left = min(box["x"] for box in boxes) - margin
    top = min(box["y"] for box in boxes) - margin
    right = max(box["x"] + box["width"] for box in boxes) + margin
    bottom = max(box["y"] + box["height"] for box in boxes) + margin
    return {
        "x": max(left, 0),
        "y": max(top, 0),
        "width": right - max(left, 0),
        "height": bottom - max(top, 0),
    }


@pytest.mark.timeout(240)
def test_example_dag_graphs(page: Page, airflow_server: AirflowApiServer, screenshots: Screenshots) -> None:
    if not example_dag_files():
        pytest.skip("dags/ has no example DAG yet")
    errors = airflow_server.api("GET", "/importErrors").json()
    assert errors["total_entries"] == 0, errors["import_errors"]
    dags = airflow_server.api("GET", "/dags", params={"limit": 100}).json()["dags"]
    assert dags, "dags/ holds Python files but no DAG was parsed from them"
    manifest = {}
    for dag in sorted(dags, key=lambda dag: dag["dag_id"]):
        dag_id = dag["dag_id"]
        tasks = airflow_server.api("GET", f"/dags/{dag_id}/tasks").json()["total_entries"]
        nodes = show_graph(page, airflow_server.url, dag_id)
        assert nodes.count() >= min(tasks, 1), dag_id
        screenshots.save(page, f"dags/{dag_id}.png", clip=settled(nodes))
        manifest[dag_id] = PurePosixPath(dag["relative_fileloc"]).name
    (screenshots.root / "dags" / "dags.json").write_text(json.dumps(manifest, indent=2) + "\n")

    committed = DOCS_STATIC / "dags" / "dags.json"
    assert committed.is_file(), f"docs/_static/dags/ has no DAG graphs yet: run {REFRESH}"
    assert json.loads(committed.read_text()) == manifest, (
        f"docs/_static/dags/dags.json does not list the DAGs of dags/: run {REFRESH}"
    )
    missing = [dag_id for dag_id in manifest if not (DOCS_STATIC / "dags" / f"{dag_id}.png").is_file()]
    assert not missing, f"no graph image in docs/_static/dags/ for {missing}: run {REFRESH}"
