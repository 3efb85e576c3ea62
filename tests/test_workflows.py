"""The GitHub workflows refer to things that exist: stacks, the Python version, requirements, the policy pack."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from components.config_hub import HubConfig
from offline.engine import read_stack_config, stacks
from tests.conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the bare key `on` as True.
    document["on"] = document.pop(True, document.get("on"))
    return document


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    (job,) = workflow["jobs"].values()
    return job["steps"]


def step(workflow: dict[str, Any], uses: str) -> dict[str, Any]:
    return next(s for s in steps(workflow) if s.get("uses", "").startswith(uses))


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml"])
def test_workflow_uses_the_project_setup(name: str) -> None:
    workflow = load(name)
    python = step(workflow, "actions/setup-python@")
    assert python["with"] == {"python-version-file": ".python-version"}
    assert (ROOT / ".python-version").read_text().strip() == "3.11"
    runs = [s.get("run", "") for s in steps(workflow)]
    assert "bash .ci/run" in runs, "the tests run before any preview or deploy"
    # The schema tests get the chart of the version the stacks deploy.
    chart_version = HubConfig.model_fields["chart_version"].default
    for stack in stacks():
        assert read_stack_config(stack)["dandihub:hub"].get("chartVersion", chart_version) == chart_version
    assert any(
        f"helm pull jupyterhub --repo https://hub.jupyter.org/helm-chart/ --version {chart_version}" in r for r in runs
    )
    assert any("DANDIHUB_Z2JH_REFERENCE=" in r for r in runs)
    assert any("pip install -q -r policies/requirements.txt" in r for r in runs)
    assert (ROOT / "policies" / "requirements.txt").exists()
    pulumi = step(workflow, "pulumi/actions@")
    assert pulumi["with"]["policyPacks"] == "policies"
    assert (ROOT / "policies" / "PulumiPolicy.yaml").exists()
    assert "exclude-protected" not in pulumi["with"]
    credentials = step(workflow, "aws-actions/configure-aws-credentials@")
    assert (
        credentials["with"]["aws-region"]
        == yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]["aws:region"]
    )
    assert workflow["permissions"]["id-token"] == "write"


def test_ci_script_installs_the_dev_requirements() -> None:
    assert "requirements-dev.txt" in (ROOT / ".ci" / "run").read_text()
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text()


def test_preview_comments_once_per_stack_on_every_pull_request() -> None:
    workflow = load("preview.yml")
    assert "pull_request" in workflow["on"]
    (job,) = workflow["jobs"].values()
    assert sorted(job["strategy"]["matrix"]["stack"]) == stacks()
    pulumi = step(workflow, "pulumi/actions@")["with"]
    assert pulumi["command"] == "preview"
    assert pulumi["comment-on-pr"] is True and pulumi["edit-pr-comment"] is True
    assert pulumi["stack-name"].endswith("${{ matrix.stack }}")
    assert workflow["permissions"]["pull-requests"] == "write"


def test_deploy_runs_staging_on_main_and_prod_only_by_hand() -> None:
    workflow = load("deploy.yml")
    assert workflow["on"]["push"] == {"branches": ["main"]}
    choice = workflow["on"]["workflow_dispatch"]["inputs"]["stack"]
    assert choice["options"] == sorted(stacks(), reverse=True) and choice["default"] == "staging"
    (job,) = workflow["jobs"].values()
    # A push has no inputs, so it can only ever resolve to staging.
    assert job["env"]["STACK"] == "${{ github.event.inputs.stack || 'staging' }}"
    assert job["environment"] == job["env"]["STACK"]
    assert step(workflow, "pulumi/actions@")["with"]["command"] == "up"


def test_readme_lists_every_secret_and_variable_the_workflows_use() -> None:
    import re

    readme = (ROOT / "README.md").read_text() + (ROOT / "docs" / "operations.md").read_text()
    text = "".join((WORKFLOWS / n).read_text() for n in ("preview.yml", "deploy.yml"))
    names = set(re.findall(r"(?:secrets|vars)\.([A-Z_]+)", text)) - {"GITHUB_TOKEN"}
    assert names
    assert sorted(n for n in names if n not in readme) == []
