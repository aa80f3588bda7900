"""Sphinx configuration of the airflow-provider-dub documentation (built by scripts/checks/docs.sh)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path[:0] = [str(ROOT), str(DOCS / "_ext")]
# Autodoc imports Airflow: keep it from creating ~/airflow or reading a developer's settings.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-provider-dub-docs-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from airflow_provider_dub import __version__  # noqa: E402

project = "airflow-provider-dub"
author = "airflow-provider-dub contributors"
copyright = "the airflow-provider-dub contributors, Apache License 2.0"
version = release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "example_dags",
]
exclude_patterns = ["_build"]
nitpicky = False
# The API reference: members in source order, type hints in the signature.
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
# Airflow's own docstrings ("Override when deriving this class.") say nothing about these classes.
autodoc_inherit_docstrings = False

html_theme = "furo"
html_title = f"airflow-provider-dub {release}"
html_static_path = ["_static"]
html_show_sourcelink = False
