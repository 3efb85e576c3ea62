"""The policy pack's rules, as plain functions: importable and testable without pulumi-policy.

Each rule's `validate(args, report_violation)` takes pulumi-policy's ResourceValidationArgs (it reads
`resource_type`, `props`, `urn`, `opts.protect` and `provider.props`) and reports what is wrong.
The `retain_on_delete` option is not visible to policy packs (pulumi-policy's PolicyResourceOptions
has no such field), so "EFS is retained" is enforced by the program's tests instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Report = Callable[[str], None]

COST_TAGS = ("Project", "Stack", "Owner", "CostCenter")
PRODUCTION_STACKS = ("prod",)
READ_ONLY_VERBS = ("Describe", "Get", "List")


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    check: Callable[[Any, Report], None]

    def validate(self, args: Any, report_violation: Report) -> None:
        self.check(args, report_violation)


def stack_of(args: Any) -> str:
    """The stack, from the resource's URN (urn:pulumi:<stack>::<project>::...)."""
    return str(args.urn).split("::", 1)[0].rsplit(":", 1)[-1]


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _efs_encrypted(args: Any, report: Report) -> None:
    if args.resource_type == "aws:efs/fileSystem:FileSystem" and args.props.get("encrypted") is not True:
        report("EFS file systems must be encrypted at rest (encrypted: true).")


def _efs_protected(args: Any, report: Report) -> None:
    production = stack_of(args) in PRODUCTION_STACKS
    if args.resource_type == "aws:efs/fileSystem:FileSystem" and production and not args.opts.protect:
        report("On production the home file system must be protected (storage.efs.protect: true).")


def _no_public_ips(args: Any, report: Report) -> None:
    props = args.props
    if args.resource_type == "aws:ec2/subnet:Subnet" and props.get("mapPublicIpOnLaunch") is True:
        report("Subnets must not give instances public IPs (mapPublicIpOnLaunch).")
    if args.resource_type == "eks:index:Cluster" and props.get("nodeAssociatePublicIpAddress") is not False:
        report("Cluster nodes must not get public IPs (nodeAssociatePublicIpAddress: false).")
    if args.resource_type == "aws:ec2/launchTemplate:LaunchTemplate":
        for interface in props.get("networkInterfaces") or []:
            if str(interface.get("associatePublicIpAddress")).lower() == "true":
                report("Node launch templates must not associate public IPs.")


def _user_groups_from_zero(args: Any, report: Report) -> None:
    if args.resource_type not in ("eks:index:ManagedNodeGroup", "aws:eks/nodeGroup:NodeGroup"):
        return
    user = (args.props.get("labels") or {}).get("hub.jupyter.org/node-purpose") == "user"
    if user and (args.props.get("scalingConfig") or {}).get("minSize") not in (0, 0.0):
        report("User and GPU node groups must be able to scale to zero (minSize: 0).")


def _write_actions(actions: Any) -> list[str]:
    listed = [actions] if isinstance(actions, str) else list(actions or [])
    return [a for a in listed if a == "*" or not a.split(":", 1)[-1].startswith(READ_ONLY_VERBS)]


def _no_unconditioned_writes(args: Any, report: Report) -> None:
    if args.resource_type not in ("aws:iam/policy:Policy", "aws:iam/rolePolicy:RolePolicy"):
        return
    document = _json(args.props.get("policy"))
    if not isinstance(document, dict):
        return
    statements = document.get("Statement") or []
    for statement in [statements] if isinstance(statements, dict) else statements:
        resources = statement.get("Resource")
        on_everything = resources == "*" or (isinstance(resources, list) and "*" in resources)
        if statement.get("Effect") != "Allow" or not on_everything or statement.get("Condition"):
            continue
        writes = _write_actions(statement.get("Action")) + (["NotAction"] if "NotAction" in statement else [])
        if writes:
            report(f"Write actions on every resource need a condition: {', '.join(writes)}.")


def _cost_tags(args: Any, report: Report) -> None:
    if not args.resource_type.startswith("aws:"):
        return
    provider = getattr(args, "provider", None)
    tags = ((_json((provider.props or {}).get("defaultTags")) or {}) if provider else {}).get("tags") or {}
    missing = [t for t in COST_TAGS if not tags.get(t)]
    if missing:
        report(
            f"AWS resources must get the cost tags through their provider's default tags; missing {', '.join(missing)}."
        )


def _charts_pinned(args: Any, report: Report) -> None:
    charts = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")
    if args.resource_type in charts and not re.fullmatch(r"\d+\.\d+\.\d+", str(args.props.get("version") or "")):
        report(f"Helm chart {args.props.get('chart')} must pin an exact version, not {args.props.get('version')!r}.")


# JupyterHub's password-for-everyone authenticators (entry points and classes).
SHARED_LOGINS = {"dummy": "DummyAuthenticator", "shared-password": "SharedPasswordAuthenticator"}


def _no_shared_login_on_production(args: Any, report: Report) -> None:
    if args.resource_type != "kubernetes:helm.sh/v3:Release" or stack_of(args) not in PRODUCTION_STACKS:
        return
    config = ((args.props.get("values") or {}).get("hub") or {}).get("config") or {}
    chosen = (config.get("JupyterHub") or {}).get("authenticator_class")
    if chosen in SHARED_LOGINS or set(SHARED_LOGINS.values()) & set(config):
        report("A shared-password or dummy authenticator is not allowed on production.")


def _no_nat_instance_on_production(args: Any, report: Report) -> None:
    nat = args.resource_type == "aws:ec2/instance:Instance" and args.props.get("sourceDestCheck") is False
    if nat and stack_of(args) in PRODUCTION_STACKS:
        report("Production egress goes through NAT gateways (network.natGateways: perAz), not a NAT instance.")


def _hub_images(values: dict[str, Any]) -> list[str]:
    """Every image the jupyterhub chart's values name for user servers: the default, each profile's and each
    menu choice's (an unlisted choice is the user's own, checked by its pattern instead)."""
    singleuser = values.get("singleuser") or {}
    default = singleuser.get("image") or {}
    found = [f"{default.get('name')}:{default.get('tag')}"] if default.get("name") else []
    for profile in singleuser.get("profileList") or []:
        found.append((profile.get("kubespawner_override") or {}).get("image"))
        choices = (((profile.get("profile_options") or {}).get("image") or {}).get("choices")) or {}
        found += [(c.get("kubespawner_override") or {}).get("image") for c in choices.values()]
    return [image for image in found if image]


def _images_pinned_on_production(args: Any, report: Report) -> None:
    if stack_of(args) not in PRODUCTION_STACKS:
        return
    if args.resource_type == "kubernetes:helm.sh/v3:Release" and args.props.get("chart") == "jupyterhub":
        images = _hub_images(args.props.get("values") or {})
    elif args.resource_type == "kubernetes:apps/v1:DaemonSet":
        spec = (((args.props.get("spec") or {}).get("template") or {}).get("spec")) or {}
        images = [c.get("image", "") for c in spec.get("initContainers") or [] if c.get("name", "").startswith("pull-")]
    else:
        return
    mutable = sorted({image for image in images if "@sha256:" not in image})
    if mutable:
        report(f"On production images are pinned by digest (hub.images); mutable: {', '.join(mutable)}.")


RULES = (
    Rule("efs-encrypted", "EFS file systems are encrypted at rest.", _efs_encrypted),
    Rule("efs-protected-on-production", "The home file system is protected on production.", _efs_protected),
    Rule("nodes-without-public-ips", "No subnet, cluster or launch template gives nodes public IPs.", _no_public_ips),
    Rule("user-groups-scale-from-zero", "User and GPU node groups may scale to zero.", _user_groups_from_zero),
    Rule(
        "no-unconditioned-writes-on-everything",
        "No IAM Allow of write actions on * without a condition.",
        _no_unconditioned_writes,
    ),
    Rule("cost-tags", "Every AWS resource carries the cost tags (through the provider's default tags).", _cost_tags),
    Rule("helm-charts-pinned", "Every Helm release pins an exact chart version.", _charts_pinned),
    Rule(
        "no-shared-login-on-production",
        "No shared-password or dummy authenticator on production.",
        _no_shared_login_on_production,
    ),
    Rule("no-nat-instance-on-production", "No NAT instance on production.", _no_nat_instance_on_production),
    Rule(
        "images-pinned-on-production",
        "User servers' images and the image pullers' are pinned by digest on production.",
        _images_pinned_on_production,
    ),
)
