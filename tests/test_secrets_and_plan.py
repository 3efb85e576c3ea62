"""Secrets stay secret everywhere; the plan command works offline for every stack."""

from __future__ import annotations

import json

import pytest

import plan as plan_command
from offline.engine import FAKE_SECRETS, Plan, ProgramError
from tests.conftest import plan_with


def _leaks(plan: Plan, secret: str) -> list[str]:
    found = []
    for r in plan.resources:
        for key, value in r.inputs.items():
            if key not in r.secret_inputs and secret in json.dumps(value, default=str):
                found.append(f"{r.name}.{key}")
    found += [f"output {k}" for k, v in plan.outputs.items() if k not in plan.secret_outputs and secret in str(v)]
    return found


def test_no_secret_appears_outside_a_secret_value(plan: Plan) -> None:
    tokens = [f"offline-random-{r.name}" for r in plan.of_type("random:index/randomPassword:RandomPassword")]
    assert len(tokens) >= 4, "the proxy's, Prometheus's and Grafana's tokens and Grafana's admin password"
    for secret in [*FAKE_SECRETS.values(), *tokens]:
        assert _leaks(plan, secret) == []


@pytest.mark.parametrize("key", ["sharedPassword", "sharedAdminPassword"])
def test_shared_passwords_stay_secret(key: str) -> None:
    plan = plan_with("staging", set_={"hub.auth": {"type": "shared-password"}})
    assert _leaks(plan, FAKE_SECRETS[f"dandihub:{key}"]) == []
    hub = plan.one("kubernetes:helm.sh/v3:Release", "hub-release")
    assert FAKE_SECRETS[f"dandihub:{key}"] in json.dumps(hub.inputs["values"])


def test_the_leak_check_finds_a_leak(staging: Plan) -> None:
    """The scan above would see a secret placed in a plain input."""
    assert _leaks(staging, "dandihub-staging") != []


def test_plan_prints_every_component_and_masks_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan_command.main(["staging", "prod"]) == 0
    out = capsys.readouterr().out
    for component in ("Network", "Cluster", "SharedStorage", "ClusterAutoscaler", "JupyterHub"):
        assert f":{component} " in out
    assert "Stack staging:" in out and "Stack prod:" in out
    assert "kubeconfig: [secret]" in out
    assert (
        "aws:efs/fileSystem:FileSystem storage-efs  encrypted=True generalPurpose/elastic [protect, retain-on-delete]"
        in out
    )
    assert "SPOT m6i.2xlarge,m6a.2xlarge,m5.2xlarge,m5a.2xlarge,m7i.2xlarge" in out
    assert "offline-fake" not in out
    assert out.count("Idle cost (no users)") == 2
    assert "warning: dandihub:hub.certificateArn is still the placeholder" in out


def test_plan_reports_config_problems(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(stack: str) -> Plan:
        return plan_with(stack, set_={"nodeGroups.gpu.maxSize": 0})

    monkeypatch.setattr(plan_command, "run_stack", broken)
    assert plan_command.main(["prod"]) == 1
    err = capsys.readouterr().err
    assert "dandihub:nodeGroups.gpu.maxSize" in err


def test_plan_rejects_an_unknown_stack(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan_command.main(["production"]) == 2
    assert "stacks: prod, staging" in capsys.readouterr().err


def test_engine_reports_partial_plans() -> None:
    with pytest.raises(ProgramError) as failure:
        plan_with("staging", set_={"network.azCount": 4})
    assert "only 3 available AZs" in str(failure.value)
    assert failure.value.plan.resources, "the AZ check needs the cloud, so it runs after the config"
