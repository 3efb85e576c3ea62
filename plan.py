"""The offline plan: what `pulumi up -s <stack>` would create, without AWS, credentials or network.

    python -m plan staging        # one stack
    python -m plan                # every stack
    python -m plan prod --faults  # and what each fault stops, and how it recovers
    python -m plan path/to/Pulumi.staging.yaml   # another stack file, planned as its stack

It runs the real program under Pulumi's mock engine (offline/engine.py) and prints the resources
grouped by component, with the settings that matter, and the stack's outputs. A stack config with
problems prints them and exits with status 1.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from offline import core_pods, fault_table, preflight, quotas, startup
from offline.costs import idle_cost
from offline.engine import Plan, ProgramError, RecordedResource, run_stack
from offline.stack_files import read_stack_config, stacks
from offline.traffic import traffic
from stackconfig.loader import PROJECT, needed_secrets


def _tags(r: RecordedResource) -> str:
    tag = r.inputs.get("tag", {})
    return f"{tag.get('key')}={tag.get('value')!r}"


def _node_group(r: RecordedResource) -> str:
    i, scaling = r.inputs, r.inputs.get("scalingConfig", {})
    taints = ", ".join(f"{t['key']}={t.get('value', '')}:{t['effect']}" for t in i.get("taints", []))
    return (
        f"{i.get('capacityType')} {','.join(i.get('instanceTypes', []))} {i.get('amiType')} "
        f"min={scaling.get('minSize', 0):g} max={scaling.get('maxSize', 0):g}"
        + (f" taints=[{taints}]" if taints else "")
    )


def _launch_template(r: RecordedResource) -> str:
    """The node group's root volume, and whether its nodes pull images in parallel (user data)."""
    ebs = r.inputs.get("blockDeviceMappings", [{}])[0].get("ebs", {})
    return (
        f"disk={ebs.get('volumeSize', 0):g}GiB {ebs.get('volumeType')} {ebs.get('throughput', 0):g}MiB/s "
        f"{ebs.get('iops', 0):g}IOPS pull={'parallel' if r.inputs.get('userData') else 'sequential'}"
    )


SUMMARIES: dict[str, Callable[[RecordedResource], str]] = {
    "aws:ec2/vpc:Vpc": lambda r: f"cidr={r.inputs.get('cidrBlock')}",
    "aws:ec2/subnet:Subnet": lambda r: f"{r.inputs.get('availabilityZone')} {r.inputs.get('cidrBlock')}",
    "aws:ec2/natGateway:NatGateway": lambda r: f"in {r.inputs.get('subnetId')}",
    "aws:ec2/vpcEndpoint:VpcEndpoint": lambda r: (
        f"{r.inputs.get('vpcEndpointType')} {r.inputs.get('serviceName')} "
        f"on {', '.join(r.inputs.get('routeTableIds', []))}"
    ),
    "aws:ecr/pullThroughCacheRule:PullThroughCacheRule": lambda r: (
        f"{r.inputs.get('ecrRepositoryPrefix')}/ <- {r.inputs.get('upstreamRegistryUrl')}"
    ),
    "eks:index:Cluster": lambda r: (
        f"name={r.inputs.get('name')} k8s={r.inputs.get('version')} "
        f"auth={r.inputs.get('authenticationMode')} "
        f"logs={','.join(r.inputs.get('enabledClusterLogTypes', []))}"
    ),
    "eks:index:ManagedNodeGroup": _node_group,
    "aws:ec2/launchTemplate:LaunchTemplate": _launch_template,
    "aws:autoscaling/tag:Tag": _tags,
    "aws:efs/fileSystem:FileSystem": lambda r: (
        f"encrypted={r.inputs.get('encrypted')} {r.inputs.get('performanceMode')}/{r.inputs.get('throughputMode')}"
    ),
    "aws:efs/backupPolicy:BackupPolicy": lambda r: r.inputs.get("backupPolicy", {}).get("status", ""),
    "aws:efs/mountTarget:MountTarget": lambda r: f"subnet={r.inputs.get('subnetId')}",
    "aws:eks/addon:Addon": lambda r: str(r.inputs.get("addonName")),
    "kubernetes:helm.sh/v3:Release": lambda r: (
        f"{r.inputs.get('chart')}@{r.inputs.get('version')} in {r.inputs.get('namespace')}"
    ),
    "aws:route53/record:Record": lambda r: f"{r.inputs.get('name')} {r.inputs.get('type')}",
}


def _options(r: RecordedResource) -> str:
    flags = [name for name, on in (("protect", r.protect), ("retain-on-delete", r.retain_on_delete)) if on]
    if r.import_id:
        flags.append(f"import={r.import_id}")
    if r.read_id:
        flags.append(f"read={r.read_id}")
    return f" [{', '.join(flags)}]" if flags else ""


def _line(r: RecordedResource, depth: int) -> str:
    summary = SUMMARIES.get(r.type, lambda _: "")(r)
    return f"{'  ' * depth}+ {r.type} {r.name}{'  ' + summary if summary else ''}{_options(r)}"


def _alert_rules(plan: Plan) -> list[str]:
    """The Prometheus alert rules the stack deploys (from the prometheus release's values), one line each."""
    releases = [r for r in plan.of_type("kubernetes:helm.sh/v3:Release") if r.inputs.get("chart") == "prometheus"]
    values = releases[0].inputs.get("values", {}) if releases else {}
    groups = values.get("serverFiles", {}).get("alerting_rules.yml", {}).get("groups", [])
    if not groups:
        return ["Prometheus alerts: none (monitoring.prometheus.rules, or the alerts topic, is off)"]
    lines = ["Prometheus alerts (Alertmanager to the alerts topic; docs/operations.md, Prometheus alerts):"]
    for rule in (r for g in groups for r in g["rules"]):
        summary = rule["annotations"]["summary"].split(": ", 1)[1]
        summary = re.sub(r"\{\{ \$labels\.(\w+) \}\}", r"<\1>", summary)
        summary = re.sub(r"\{\{ \$value[^}]*\}\}", "<measured>", summary)
        lines.append(f"  {rule['alert']:<20} {summary}")
    if not any(r["alert"] == "SlowServerStarts" for g in groups for r in g["rules"]):
        lines.append(f"  {'SlowServerStarts':<20} none: no profile has a modelled cold start (no image sizeGb)")
    return lines


def render(plan: Plan) -> str:
    """The plan as text: the component tree, then the outputs (secret ones masked)."""
    lines = [
        f"Stack {plan.stack}: {len([r for r in plan.resources if r.custom])} resources, "
        f"{len([r for r in plan.resources if not r.custom])} components (offline plan, nothing was called)"
    ]

    def walk(parent: str, depth: int) -> None:
        for r in sorted(plan.resources, key=lambda x: (x.custom, x.type, x.name)):
            if r.parent == parent:
                lines.append(_line(r, depth))
                walk(r.urn, depth + 1)

    roots = {r.parent for r in plan.resources if r.parent not in {x.urn for x in plan.resources}}
    for root in sorted(roots):
        walk(root, 1)
    lines += [f"warning: {message}" for message in plan.warnings]
    lines.append("Outputs:")
    for key, value in sorted(plan.outputs.items()):
        shown: Any = "[secret]" if key in plan.secret_outputs else value
        lines.append(f"  {key}: {shown}")
    if plan.config is not None:
        lines.append(render_secrets(plan))
        lines.append(idle_cost(plan.config, stack=plan.stack).render())
        lines.append(traffic(plan.config, plan.stack).render())
        lines.append(core_pods.render(plan))
        lines.append(quotas.render(plan.config))
        lines.append(startup.render(plan.config))
    lines += _alert_rules(plan)
    return "\n".join(lines)


def render_secrets(plan: Plan) -> str:
    """Each secret the stack's config needs: set (encrypted in its stack file) or missing (faked here)."""
    lines = ["Secrets (encrypted in the stack file by `pulumi config set --secret`):"]
    for spec in needed_secrets(plan.config):
        key = f"{PROJECT}:{spec.key}"
        if key in plan.faked_secrets:
            lines.append(
                f"  MISSING {key} ({spec.purpose}): faked for this plan; `pulumi up` refuses until "
                f"`pulumi config set --secret {key} <value>`"
            )
        else:
            lines.append(f"  set     {key} ({spec.purpose})")
    return "\n".join(lines)


def _stack_and_config(argument: str) -> tuple[str, dict[str, Any] | None]:
    """A stack name, or the path of a stack file (`Pulumi.<stack>.yaml`) to plan in its place."""
    if not argument.endswith(".yaml"):
        return argument, None
    path = Path(argument)
    stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    return stack, read_stack_config(stack, stack_file=path)


def main(argv: list[str]) -> int:
    show_faults = "--faults" in argv
    chosen = [a for a in argv if a != "--faults"] or stacks()
    unknown = [s for s in chosen if s not in stacks() and not (s.endswith(".yaml") and Path(s).is_file())]
    if unknown:
        print(f"no such stack: {', '.join(unknown)}; stacks: {', '.join(stacks())}", file=sys.stderr)
        return 2
    status = 0
    print(preflight.render(preflight.check()), end="\n\n")
    for argument in chosen:
        stack, config = _stack_and_config(argument)
        try:
            recorded = run_stack(stack, config=config)
            print(render(recorded))
            if show_faults:
                print(fault_table.render(recorded))
        except ProgramError as error:
            print(f"Stack {stack}: {error}", file=sys.stderr)
            status = 1
        print()
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
