"""The policy pack's rules: one passing and one violating resource each, and both stacks pass them all."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from types import SimpleNamespace
from typing import Any

import pytest

from offline.engine import Plan, RecordedResource
from policies.rules import RULES, Rule
from tests.conftest import ROOT

TAGS = json.dumps({"tags": {"Project": "dandihub", "Stack": "prod", "Owner": "dandi", "CostCenter": "x"}})


def args(
    resource_type: str,
    props: dict[str, Any],
    stack: str = "staging",
    protect: bool = False,
    provider_props: dict[str, Any] | None = None,
) -> SimpleNamespace:
    return SimpleNamespace(
        resource_type=resource_type,
        props=props,
        name="r",
        opts=SimpleNamespace(protect=protect),
        urn=f"urn:pulumi:{stack}::dandihub::{resource_type}::r",
        provider=SimpleNamespace(props=provider_props) if provider_props is not None else None,
    )


def violations(rule: Rule, resource: SimpleNamespace) -> list[str]:
    found: list[str] = []
    rule.validate(resource, found.append)
    return found


POLICY = "aws:iam/policy:Policy"
MNG = "eks:index:ManagedNodeGroup"
RELEASE = "kubernetes:helm.sh/v3:Release"
EFS = "aws:efs/fileSystem:FileSystem"
USER_LABELS = {"hub.jupyter.org/node-purpose": "user"}


def iam(statement: dict[str, Any]) -> dict[str, Any]:
    return {"policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})}


CASES = {
    "efs-encrypted": (args(EFS, {"encrypted": True}), args(EFS, {"encrypted": False})),
    "efs-protected-on-production": (args(EFS, {}, "prod", protect=True), args(EFS, {}, "prod", protect=False)),
    "nodes-without-public-ips": (
        args("aws:ec2/subnet:Subnet", {"mapPublicIpOnLaunch": False}),
        args("aws:ec2/subnet:Subnet", {"mapPublicIpOnLaunch": True}),
    ),
    "user-groups-scale-from-zero": (
        args(MNG, {"labels": USER_LABELS, "scalingConfig": {"minSize": 0.0}}),
        args(MNG, {"labels": USER_LABELS, "scalingConfig": {"minSize": 1.0}}),
    ),
    "no-unconditioned-writes-on-everything": (
        args(POLICY, iam({"Effect": "Allow", "Action": ["ec2:DescribeImages"], "Resource": "*"})),
        args(POLICY, iam({"Effect": "Allow", "Action": ["autoscaling:SetDesiredCapacity"], "Resource": "*"})),
    ),
    "cost-tags": (
        args("aws:ec2/vpc:Vpc", {}, provider_props={"defaultTags": TAGS}),
        args("aws:ec2/vpc:Vpc", {}, provider_props={}),
    ),
    "helm-charts-pinned": (
        args(RELEASE, {"chart": "jupyterhub", "version": "4.4.0"}),
        args(RELEASE, {"chart": "jupyterhub", "version": "^4"}),
    ),
    "no-shared-login-on-production": (
        args(
            RELEASE,
            {"values": {"hub": {"config": {"JupyterHub": {"authenticator_class": "shared-password"}}}}},
            "staging",
        ),
        args(
            RELEASE, {"values": {"hub": {"config": {"JupyterHub": {"authenticator_class": "shared-password"}}}}}, "prod"
        ),
    ),
    "no-nat-instance-on-production": (
        args("aws:ec2/instance:Instance", {"sourceDestCheck": False}, "staging"),
        args("aws:ec2/instance:Instance", {"sourceDestCheck": False}, "prod"),
    ),
    "images-pinned-on-production": (
        args(
            RELEASE,
            {
                "chart": "jupyterhub",
                "values": {"singleuser": {"image": {"name": "a/b", "tag": "1@sha256:" + "5" * 64}}},
            },
            "prod",
        ),
        args(
            RELEASE,
            {
                "chart": "jupyterhub",
                "values": {"singleuser": {"profileList": [{"kubespawner_override": {"image": "a/b:latest"}}]}},
            },
            "prod",
        ),
    ),
}


def test_every_rule_has_cases() -> None:
    assert sorted(CASES) == sorted(rule.name for rule in RULES)


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_rule_passes_and_fails(rule: Rule) -> None:
    passing, violating = CASES[rule.name]
    assert violations(rule, passing) == []
    assert len(violations(rule, violating)) == 1


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": ["*"]},
        {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": ["arn:aws:s3:::b/*", "*"]},
    ],
)
def test_other_broad_writes_are_caught(statement: dict[str, Any]) -> None:
    (rule,) = [r for r in RULES if r.name == "no-unconditioned-writes-on-everything"]
    assert violations(rule, args(POLICY, iam(statement)))


def as_policy_args(plan: Plan, resource: RecordedResource) -> SimpleNamespace:
    """A recorded resource as pulumi-policy would hand it to a rule."""
    provider = next((p for p in plan.resources if p.urn == resource.provider_urn), None)
    return SimpleNamespace(
        resource_type=resource.type,
        props=resource.inputs,
        name=resource.name,
        urn=resource.urn,
        opts=SimpleNamespace(protect=resource.protect),
        provider=SimpleNamespace(props=provider.inputs) if provider is not None else None,
    )


def all_violations(plan: Plan) -> list[str]:
    found: list[str] = []
    for resource in plan.resources:
        for rule in RULES:
            rule.validate(
                as_policy_args(plan, resource), lambda m, n=rule.name, r=resource.name: found.append(f"{n}: {r}: {m}")
            )
    return found


def test_both_stacks_pass_every_rule(plan: Plan) -> None:
    assert all_violations(plan) == []


def test_an_unprotected_prod_file_system_is_caught_by_the_pack_too(prod: Plan) -> None:
    """The config check refuses this first (tests/configs/efs-protect.error.production.yaml); the pack is the
    second line, for a state edited by hand: the recorded file system with its protection taken off."""
    efs = prod.one(EFS)
    unprotected = Plan(prod.stack, [dataclasses.replace(r, protect=False) if r is efs else r for r in prod.resources],
                       prod.outputs, prod.secret_outputs)  # fmt: skip
    found = all_violations(unprotected)
    assert found == [
        "efs-protected-on-production: storage-efs: On production the home file system must be protected "
        "(storage.efs.protect: true)."
    ]


@pytest.mark.skipif(
    not os.environ.get("DANDIHUB_POLICY_PYTHON"),
    reason="DANDIHUB_POLICY_PYTHON (the policy pack's own virtualenv python) is not set",
)
def test_the_pack_starts_under_pulumi_policy() -> None:
    """The pack serves its policies over gRPC and prints its port; it is stopped once that is seen."""
    process = subprocess.Popen(
        [os.environ["DANDIHUB_POLICY_PYTHON"], "__main__.py"],
        cwd=ROOT / "policies",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        assert port.isdigit(), process.stderr.read() if process.stderr else ""
    finally:
        process.kill()
        process.wait()


# The pack's production rules that the stack config alone decides, and the bad-config fixture showing the
# config check refuses the same thing before anything is created (tests/configs, run by test_config.py).
CONFIG_DECIDED_PRODUCTION_RULES = {
    "efs-protected-on-production": "efs-protect.error.production.yaml",
    "no-shared-login-on-production": "shared-password-auth.error.production.yaml",
    "no-nat-instance-on-production": "nat.error.production-instance.yaml",
    "images-pinned-on-production": "image.error.production-mutable.yaml",
}


def test_every_production_rule_of_the_pack_is_also_a_config_check() -> None:
    production_rules = {r.name for r in RULES if "production" in r.name}
    assert production_rules == set(CONFIG_DECIDED_PRODUCTION_RULES)
    for fixture in CONFIG_DECIDED_PRODUCTION_RULES.values():
        assert (ROOT / "tests" / "configs" / fixture).exists()


@pytest.mark.parametrize(
    "hub_config",
    [
        {"JupyterHub": {"authenticator_class": "dummy"}},
        {"SharedPasswordAuthenticator": {"user_password": "x" * 8}},
        {"DummyAuthenticator": {"password": "x"}},
    ],
    ids=["dummy-class", "shared-password-section", "dummy-section"],
)
def test_every_password_for_everyone_login_is_refused_on_production(hub_config: dict[str, Any]) -> None:
    (rule,) = [r for r in RULES if r.name == "no-shared-login-on-production"]
    assert violations(rule, args(RELEASE, {"values": {"hub": {"config": hub_config}}}, "prod"))
    assert violations(rule, args(RELEASE, {"values": {"hub": {"config": hub_config}}}, "staging")) == []
