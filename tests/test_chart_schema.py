"""The hub's final values, merged over the chart's defaults as Helm merges them, pass the chart's schema."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
import yaml

from components.helm_values import deep_merge
from offline.engine import Plan
from tests.charts import chart_folder
from tests.conftest import plan_with


@pytest.fixture(scope="module")
def chart() -> tuple[dict[str, Any], dict[str, Any]]:
    path = chart_folder("jupyterhub")
    return yaml.safe_load((path / "values.yaml").read_text()), yaml.safe_load((path / "values.schema.json").read_text())


def check(plan: Plan, chart: tuple[dict[str, Any], dict[str, Any]]) -> None:
    defaults, schema = chart
    release = plan.one("kubernetes:helm.sh/v3:Release", "hub-release")
    merged = deep_merge(defaults, release.inputs["values"])
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(merged), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_stack_values_pass_the_chart_schema(plan: Plan, chart: tuple[dict[str, Any], dict[str, Any]]) -> None:
    check(plan, chart)


@pytest.mark.parametrize(
    "change",
    [
        {"hub.auth": {"type": "dummy"}},
        {"hub.privilegedUserPods": True, "hub.userPlaceholders": 2},
        {"hub.auth.requireDandiUser": False},
    ],
)
def test_optional_settings_pass_the_chart_schema(
    change: dict[str, Any], chart: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    check(plan_with("staging", set_=change), chart)


def test_the_schema_rejects_a_bad_value(staging: Plan, chart: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """The check has teeth: a key the chart does not know fails it."""
    defaults, schema = chart
    values = deep_merge(
        staging.one("kubernetes:helm.sh/v3:Release", "hub-release").inputs["values"],
        {"proxy": {"https": {"hostz": ["x"]}}},
    )
    assert list(jsonschema.Draft7Validator(schema).iter_errors(deep_merge(defaults, values)))


def test_the_chart_default_authenticator_never_survives(
    plan: Plan, chart: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    """The chart defaults to the dummy authenticator; the merged values must name a real one."""
    defaults, _ = chart
    assert defaults["hub"]["config"]["JupyterHub"]["authenticator_class"] == "dummy"
    merged = deep_merge(defaults, plan.one("kubernetes:helm.sh/v3:Release", "hub-release").inputs["values"])
    assert merged["hub"]["config"]["JupyterHub"]["authenticator_class"] == "github"
