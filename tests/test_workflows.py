"""The GitHub workflows refer to things that exist: stacks, the Python version, requirements, the policy pack."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.charts import ADDON_CHARTS
from offline.stack_files import read_stack_config, stacks
from stackconfig.cluster import AutoscalerConfig, ClusterConfig
from stackconfig.hub import HubConfig
from stackconfig.monitoring import GrafanaConfig, PrometheusConfig
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
    fetch = next(r for r in runs if ".ci/fetch-charts" in r)
    assert 'echo "DANDIHUB_CHARTS=$RUNNER_TEMP/charts" >> "$GITHUB_ENV"' in fetch
    assert runs.index(fetch) < runs.index("bash .ci/run")
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


# Each chart the program deploys: its config default, where it comes from, and the stack-file key that may change it.
PINNED_CHARTS = {
    "jupyterhub": (HubConfig.model_fields["chart_version"].default, "https://hub.jupyter.org/helm-chart/"),
    "cluster-autoscaler": (
        AutoscalerConfig.model_fields["chart_version"].default,
        "https://kubernetes.github.io/autoscaler",
    ),
    "nvidia-device-plugin": (
        ClusterConfig.model_fields["nvidia_device_plugin_version"].default,
        "https://nvidia.github.io/k8s-device-plugin",
    ),
    "prometheus": (
        PrometheusConfig.model_fields["chart_version"].default,
        "https://prometheus-community.github.io/helm-charts",
    ),
    "grafana": (GrafanaConfig.model_fields["chart_version"].default, "https://grafana.github.io/helm-charts"),
}


def test_fetch_charts_pulls_the_versions_the_program_deploys() -> None:
    script = (ROOT / ".ci" / "fetch-charts").read_text()
    pulls = [line for line in script.splitlines() if line.startswith("helm pull ")]
    assert pulls == [
        f'helm pull {chart} --repo {repo} --version {version} --untar --untardir "$into"'
        for chart, (version, repo) in PINNED_CHARTS.items()
    ] + [
        f'helm pull {name} --repo {chart.repo} --version {chart.version} --untar --untardir "$into"'
        for name, chart in ADDON_CHARTS.items()
    ]
    for stack in stacks():
        config = read_stack_config(stack)
        assert (
            config["dandihub:hub"].get("chartVersion", PINNED_CHARTS["jupyterhub"][0]) == PINNED_CHARTS["jupyterhub"][0]
        )
        autoscaler = config.get("dandihub:autoscaler", {}).get("chartVersion")
        assert autoscaler in (None, PINNED_CHARTS["cluster-autoscaler"][0])
    assert "DANDIHUB_CHARTS" in (ROOT / ".ci" / "run").read_text()
    commit = GrafanaConfig.model_fields["dashboards_commit"].default
    assert f"dashboards={commit}" in script


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml"])
def test_actions_are_pinned_to_commits_and_checkout_keeps_no_credentials(name: str) -> None:
    for action in [s["uses"] for s in steps(load(name)) if "uses" in s]:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), action
    text = (WORKFLOWS / name).read_text()
    assert all(re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line) for line in text.splitlines() if "uses:" in line)
    assert step(load(name), "actions/checkout@")["with"]["persist-credentials"] is False


def zizmor(folder: Path) -> list[dict[str, Any]]:
    """zizmor's findings of medium severity or above (offline: no GitHub API calls)."""
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("zizmor")),
            "--offline",
            "--format",
            "json",
            "--min-severity",
            "medium",
            str(folder),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 11, 12, 13, 14), result.stderr
    return json.loads(result.stdout)


def test_zizmor_finds_nothing_in_the_workflows() -> None:
    findings = zizmor(WORKFLOWS)
    assert findings == [], [(f["ident"], f["desc"]) for f in findings]


@pytest.mark.parametrize(
    ("pattern", "replacement", "finding"),
    [
        (r"actions/checkout@[0-9a-f]{40} # v[\d.]+", "actions/checkout@v7", "unpinned-uses"),
        (r"persist-credentials: false", "fetch-depth: 1", "artipacked"),
    ],
)
def test_zizmor_flags_a_broken_workflow(pattern: str, replacement: str, finding: str, tmp_path: Path) -> None:
    """The check has teeth: a tag instead of a SHA, or a checkout that keeps its token, is a finding."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    broken = re.sub(pattern, replacement, (WORKFLOWS / "deploy.yml").read_text(), count=1)
    (workflows / "deploy.yml").write_text(broken)
    assert {f["ident"] for f in zizmor(workflows)} == {finding}


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
    readme = (ROOT / "README.md").read_text() + (ROOT / "docs" / "operations.md").read_text()
    text = "".join((WORKFLOWS / n).read_text() for n in ("preview.yml", "deploy.yml"))
    names = set(re.findall(r"(?:secrets|vars)\.([A-Z_]+)", text)) - {"GITHUB_TOKEN"}
    assert names
    assert sorted(n for n in names if n not in readme) == []
