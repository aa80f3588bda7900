"""``.. example-dags::``: each file of ``dags/``, its snippets and the graphs of its DAGs.

The graphs are screenshots of the Airflow UI taken by tests/browser/test_example_dag_graphs.py, which
also writes ``_static/dags/dags.json`` (DAG id -> file). A file of ``dags/`` is shown by its
``# [START name]`` / ``# [END name]`` snippets when it has some, else whole.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

START = re.compile(r"^\s*#\s*\[START (?P<name>[^\]]+)\]\s*$", re.MULTILINE)


def dag_files(dags: Path) -> list[Path]:
    return sorted(path for path in dags.glob("*.py") if not path.name.startswith("_"))


def graph_manifest(static: Path) -> dict[str, str]:
    """DAG id -> file name (relative to ``dags/``), as the browser test last recorded it."""
    manifest = static / "dags" / "dags.json"
    if not manifest.is_file():
        return {}
    return dict(json.loads(manifest.read_text()))


def file_section(path: Path, include_path: str, graphs: list[str]) -> list[str]:
    """The reST of one DAG file: title, docstring, graphs, code."""
    text = path.read_text()
    title = f"``dags/{path.name}``"
    lines = [title, "-" * len(title), ""]
    docstring = ast.get_docstring(ast.parse(text))
    if docstring:
        lines += [*docstring.splitlines(), ""]
    for dag_id in graphs:
        lines += [
            f".. figure:: /_static/dags/{dag_id}.png",
            f"   :alt: The graph of the DAG {dag_id} in the Airflow UI",
            "",
            f"   ``{dag_id}`` in the Airflow UI's graph view, with the assets and DAGs it is linked to.",
            "",
        ]
    snippets = START.findall(text)
    for name in snippets:
        lines += [
            f".. literalinclude:: {include_path}",
            "   :language: python",
            f"   :start-after: [START {name}]",
            f"   :end-before: [END {name}]",
            f"   :caption: dags/{path.name}: {name}",
            "   :dedent:",
            "",
        ]
    if not snippets:
        lines += [f".. literalinclude:: {include_path}", "   :language: python", ""]
    return lines


class ExampleDagsDirective(SphinxDirective):
    """Renders every example DAG file; says so, without a warning, while there is none."""

    def run(self) -> list[nodes.Node]:
        docs = Path(self.env.srcdir)
        dags = docs.parent / "dags"
        manifest = graph_manifest(docs / "_static")
        files = dag_files(dags)
        lines: list[str] = []
        if not files:
            lines = ["The example DAGs are not part of this version yet.", ""]
        for path in files:
            self.env.note_dependency(str(path))
            graphs = sorted(dag_id for dag_id, name in manifest.items() if name == path.name)
            lines += file_section(path, f"/../dags/{path.name}", graphs)
        container = nodes.section()
        container.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source="dags/"), container)
        return list(container.children)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("example-dags", ExampleDagsDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
