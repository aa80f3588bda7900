"""Provider info: Airflow's schema, the entry point, the connection type and its form."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.resources
import importlib.util
import json
import subprocess
import sys
from typing import Any

import jsonschema
import pytest
from packaging.version import Version

import airflow_provider_dub
from airflow_provider_dub.get_provider_info import get_provider_info
from airflow_provider_dub.hooks.dub import DubHook

AIRFLOW_3_2 = Version(importlib.metadata.version("apache-airflow-core")) >= Version("3.2")

CONN_FIELDS = {
    "requests_per_minute",
    "max_concurrency",
    "max_retry_seconds",
    "connect_timeout",
    "read_timeout",
}


def _airflow_schema(name: str) -> dict[str, Any]:
    return json.loads(importlib.resources.files("airflow").joinpath(name).read_text())


@pytest.fixture(scope="module")
def info() -> dict[str, Any]:
    return get_provider_info()


@pytest.fixture(scope="module")
def dub_conn_type(info) -> dict[str, Any]:
    conn_types = [ct for ct in info["connection-types"] if ct["connection-type"] == "dub"]
    assert len(conn_types) == 1
    return conn_types[0]


def test_validates_against_airflows_provider_info_schema(info):
    schema = _airflow_schema("provider_info.schema.json")
    jsonschema.validate(info, schema, cls=jsonschema.Draft7Validator)


def test_connection_type_validates_against_airflows_provider_yaml_schema(info):
    """provider_info.schema.json does not describe conn-fields/ui-field-behaviour; provider.yaml's does."""
    item_schema = _airflow_schema("provider.yaml.schema.json")["properties"]["connection-types"]
    jsonschema.validate(info["connection-types"], item_schema, cls=jsonschema.Draft7Validator)


def test_schema_check_is_not_vacuous(info):
    item_schema = _airflow_schema("provider.yaml.schema.json")["properties"]["connection-types"]
    if "ui-field-behaviour" not in json.dumps(item_schema):
        pytest.skip(
            "this Airflow's provider.yaml schema does not describe the connection form (added in 3.2)"
        )
    broken = json.loads(json.dumps(info["connection-types"]))
    broken[0]["ui-field-behaviour"]["hidden-fields"] = ["no-such-field"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, item_schema, cls=jsonschema.Draft7Validator)


def test_package_name_and_version(info):
    assert info["package-name"] == "airflow-provider-dub"
    assert info["name"] == "Dub"
    assert info["description"]
    assert airflow_provider_dub.__version__ in info["versions"]
    assert importlib.metadata.version("airflow-provider-dub") == airflow_provider_dub.__version__


def test_entry_point_of_the_installed_distribution_resolves_to_get_provider_info():
    dist = importlib.metadata.distribution("airflow-provider-dub")
    entry_points = [ep for ep in dist.entry_points if ep.group == "apache_airflow_provider"]
    assert len(entry_points) == 1
    loaded = entry_points[0].load()
    assert loaded is get_provider_info
    assert loaded() == get_provider_info()


def test_entry_point_is_found_by_group():
    eps = importlib.metadata.entry_points(group="apache_airflow_provider")
    ours = [ep for ep in eps if ep.dist is not None and ep.dist.name == "airflow-provider-dub"]
    assert len(ours) == 1
    assert ours[0].load()()["package-name"] == "airflow-provider-dub"


def test_connection_type_and_hook_class(dub_conn_type):
    assert dub_conn_type["hook-class-name"] == "airflow_provider_dub.hooks.dub.DubHook"
    module_name, class_name = dub_conn_type["hook-class-name"].rsplit(".", 1)
    assert getattr(importlib.import_module(module_name), class_name) is DubHook
    assert dub_conn_type["hook-name"] == DubHook.hook_name
    assert DubHook.conn_type == "dub"
    assert DubHook.conn_name_attr == "dub_conn_id"
    assert DubHook.default_conn_name == "dub_default"


def test_hook_module_is_listed(info):
    modules = [m for hook in info["hooks"] for m in hook["python-modules"]]
    assert "airflow_provider_dub.hooks.dub" in modules
    for module in modules:
        importlib.import_module(module)
    integration_names = {i["integration-name"] for i in info["integrations"]}
    assert {hook["integration-name"] for hook in info["hooks"]} <= integration_names


def test_hidden_fields(dub_conn_type):
    assert sorted(dub_conn_type["ui-field-behaviour"]["hidden-fields"]) == ["login", "port", "schema"]


def test_relabelled_host_and_password_with_placeholders(dub_conn_type):
    behaviour = dub_conn_type["ui-field-behaviour"]
    assert set(behaviour["relabeling"]) == {"host", "password"}
    assert "url" in behaviour["relabeling"]["host"].lower()
    assert "api key" in behaviour["relabeling"]["password"].lower()
    assert behaviour["placeholders"]["host"] == "https://api.dub.co"
    # the key's prefix only: nothing a secret scanner (or a user) could take for a key
    assert behaviour["placeholders"]["password"] == "dub_..."


def test_conn_fields(dub_conn_type):
    fields = dub_conn_type["conn-fields"]
    assert set(fields) == CONN_FIELDS
    for name, field in fields.items():
        assert field["label"], name
        assert field["description"], name
        types = field["schema"]["type"]
        assert "null" in types, name  # optional
        assert {"integer", "number"} & set(types), name
    assert "integer" in fields["requests_per_minute"]["schema"]["type"]


def test_conn_field_defaults_are_what_the_hook_uses(dub_conn_type, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_DUB_DEFAULTS",
        json.dumps({"conn_type": "dub", "password": "dub_testkey123456789012345678"}),
    )
    settings = DubHook("dub_defaults").settings
    fields = dub_conn_type["conn-fields"]
    assert settings.requests_per_minute == fields["requests_per_minute"]["schema"]["default"]
    assert settings.max_retry_seconds == fields["max_retry_seconds"]["schema"]["default"]
    assert settings.connect_timeout == fields["connect_timeout"]["schema"]["default"]
    assert settings.read_timeout == fields["read_timeout"]["schema"]["default"]
    assert settings.base_url == dub_conn_type["ui-field-behaviour"]["placeholders"]["host"]


def test_get_ui_field_behaviour_matches_provider_info(dub_conn_type):
    behaviour = DubHook.get_ui_field_behaviour()
    expected = dub_conn_type["ui-field-behaviour"]
    assert behaviour == {
        "hidden_fields": expected["hidden-fields"],
        "relabeling": expected["relabeling"],
        "placeholders": expected["placeholders"],
    }
    jsonschema.validate(behaviour, _airflow_schema("customized_form_field_behaviours.schema.json"))


def test_get_ui_field_behaviour_returns_copies():
    behaviour = DubHook.get_ui_field_behaviour()
    behaviour["hidden_fields"].append("host")
    behaviour["relabeling"]["host"] = "changed"
    again = DubHook.get_ui_field_behaviour()
    assert "host" not in again["hidden_fields"]
    assert again["relabeling"]["host"] != "changed"


def test_airflow_providers_manager_sees_the_connection_form():
    if not AIRFLOW_3_2:
        try:  # what Airflow 3.1's ProvidersManager imports before any hook's form
            from wtforms import BooleanField, IntegerField, PasswordField, StringField  # noqa: F401
        except ImportError:
            pytest.skip(
                "Airflow before 3.2 loads no hook's connection form without wtforms (the FAB provider)"
            )
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-provider-dub" in manager.providers
    behaviour = manager.field_behaviours["dub"]
    assert sorted(behaviour["hidden_fields"]) == ["login", "port", "schema"]
    assert set(behaviour["relabeling"]) == {"host", "password"}
    widgets = {name for name in manager.connection_form_widgets if name.startswith("extra__dub__")}
    # Airflow before 3.2 builds the extra fields from Flask-AppBuilder widgets, when it is installed.
    try:
        import flask_appbuilder  # noqa: F401

        fab = True
    except ImportError:
        fab = False
    assert widgets == ({f"extra__dub__{name}" for name in CONN_FIELDS} if fab or AIRFLOW_3_2 else set())


def test_the_provider_info_is_cheap_to_import() -> None:
    """Airflow imports it in every component: the connection schema only, no hook, no Airflow, no HTTP."""
    code = (
        "import sys, airflow_provider_dub.get_provider_info as m; m.get_provider_info(); "
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('requests', 'httpx', 'airflow', 'airflow_provider_dub')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(loaded.replace("'", '"')) == [
        "airflow_provider_dub",
        "airflow_provider_dub.get_provider_info",
        "airflow_provider_dub.hooks",
        "airflow_provider_dub.hooks.connection_schema",
    ]
