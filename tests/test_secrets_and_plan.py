"""Secrets stay secret everywhere; the plan command works offline for every stack."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml

import plan as plan_command
from offline.engine import Plan, ProgramError, run_stack
from offline.stack_files import FAKE_SECRETS, is_encrypted, read_stack_config
from stackconfig.loader import SECRET_SPECS
from tests.conftest import ROOT, STACKS, plan_with


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
    def broken(stack: str, config: object = None) -> Plan:
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


# The end state of README "First deploy" for staging, as the Pulumi CLI leaves the stack file.
FIRST_DEPLOY = ROOT / "tests" / "first-deploy" / "Pulumi.staging.yaml"
FIXTURE_PASSPHRASE = "dandihub offline fixture"
STACK_FILES = [*(ROOT / f"Pulumi.{s}.yaml" for s in STACKS), FIRST_DEPLOY]


def _decrypt(key: bytes, ciphertext: str) -> str:
    """Pulumi's passphrase provider: AES-256-GCM, `v1:<nonce>:<sealed>` in base64
    (pulumi/pulumi@0373577d4f7f:sdk/go/common/resource/config/crypt.go, symmetricCrypter)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    version, nonce, sealed = ciphertext.split(":")
    assert version == "v1" and len(base64.b64decode(nonce)) == 12
    return AESGCM(key).decrypt(base64.b64decode(nonce), base64.b64decode(sealed), None).decode()


def test_the_first_deploy_fixture_is_what_the_cli_writes() -> None:
    """The salt line is `v1:<8-byte salt>:` plus "pulumi" encrypted with the key PBKDF2-SHA256 derives in
    1,000,000 rounds (pulumi/pulumi@037bd64252a4:pkg/secrets/passphrase/manager.go); each secret decrypts."""
    document = yaml.safe_load(FIRST_DEPLOY.read_text())
    _, salt, *check = document["encryptionsalt"].split(":")
    key = hashlib.pbkdf2_hmac("sha256", FIXTURE_PASSPHRASE.encode(), base64.b64decode(salt), 1_000_000, 32)
    assert _decrypt(key, ":".join(check)) == "pulumi"
    encrypted = {k: v["secure"] for k, v in document["config"].items() if is_encrypted(v)}
    assert set(encrypted) == {"dandihub:githubClientSecret", "dandihub:dandiApiToken"}
    assert all(len(_decrypt(key, value)) == 40 for value in encrypted.values())


def test_the_first_deploy_stack_file_plans_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    """Its encrypted secrets count as set (faked offline); before, the plan ended in a traceback."""
    assert plan_command.main([str(FIRST_DEPLOY)]) == 0
    out = capsys.readouterr().out
    assert "  set     dandihub:githubClientSecret (the GitHub OAuth app's client secret)" in out
    assert "  set     dandihub:dandiApiToken" in out
    assert "MISSING dandihub:" not in out and "warning:" not in out
    assert "offline-fake" not in out


def test_the_plan_lists_missing_secrets_and_still_plans(staging: Plan) -> None:
    plan = staging
    assert plan.faked_secrets >= {"dandihub:githubClientSecret", "dandihub:dandiApiToken"}
    listed = plan_command.render_secrets(plan)
    assert (
        "  MISSING dandihub:dandiApiToken (an API token of the DANDI (staging) archive, to check that users are "
        "registered): faked for this plan; `pulumi up` refuses until "
        "`pulumi config set --secret dandihub:dandiApiToken <value>`"
    ) in listed
    assert "sharedPassword" not in listed, "only the secrets this stack's login needs"


def test_one_encrypted_secret_is_set_the_other_still_missing() -> None:
    config = {**read_stack_config("prod"), "dandihub:githubClientSecret": {"secure": "v1:AAAA:BBBB"}}
    plan = run_stack("prod", config=config)
    assert "dandihub:githubClientSecret" not in plan.faked_secrets
    assert "dandihub:dandiApiToken" in plan.faked_secrets


@pytest.mark.parametrize("path", STACK_FILES, ids=[p.parent.name + "/" + p.name for p in STACK_FILES])
def test_no_secret_is_ever_in_plain_text_in_a_stack_file(path: Path) -> None:
    config = yaml.safe_load(path.read_text())["config"]
    secret_keys = [k for k in config if k.split(":")[1] in {s.key for s in SECRET_SPECS} or k.endswith("ApiToken")]
    assert all(is_encrypted(config[k]) for k in secret_keys), secret_keys
    for value in config.values():
        assert "offline-fake" not in json.dumps(value)


def test_the_stack_files_say_where_their_secrets_are() -> None:
    readme = (ROOT / "README.md").read_text()
    for stack in STACKS:
        lines = (ROOT / f"Pulumi.{stack}.yaml").read_text().splitlines()
        header = " ".join(line for line in lines[:3] if line.startswith("#"))
        section = re.search(r'README "([^"]+)"', header)
        assert section and f"## {section.group(1)}\n" in readme, header
        assert "secure:" in header


def test_the_first_deploy_stack_file_passes_as_pulumi_up() -> None:
    """No placeholder left, so `up` (stricter than a preview) takes it."""
    config = read_stack_config("staging", stack_file=FIRST_DEPLOY)
    assert run_stack("staging", config=config, preview=False).outputs["clusterName"] == "dandihub-staging"
