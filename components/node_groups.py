"""One builder for every managed node group; the role-specific labels and taints come from the config."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks

from stackconfig.nodes import NodeGroupConfig


@dataclass(frozen=True)
class PlacedGroup:
    """One managed node group as built: its key, the nodeGroups entry it comes from, and its subnets' keys
    (AZs; in an existing VPC, subnet ids)."""

    key: str
    config_name: str
    config: NodeGroupConfig
    zones: tuple[str, ...]


def placed_groups(node_groups: dict[str, NodeGroupConfig], zones: list[str]) -> list[PlacedGroup]:
    """User and GPU groups span every zone. The core entry becomes one group per zone in its first `zones`
    zones (core-us-east-2a, ...): an Auto Scaling group replaces a lost node in its own zone, where the
    hub's EBS volume is, and the autoscaler can scale the zone a pending pod needs."""
    placed = []
    for name, group in node_groups.items():
        if group.role == "core":
            placed += [PlacedGroup(f"{name}-{zone}", name, group, (zone,)) for zone in zones[: group.zones]]
        else:
            placed.append(PlacedGroup(name, name, group, tuple(zones)))
    return placed


def managed_node_group(
    name: str,
    placed: PlacedGroup,
    *,
    cluster: eks.Cluster,
    cluster_name: str,
    node_role: aws.iam.Role,
    subnet_ids: Sequence[pulumi.Input[str]],
    parent: pulumi.Resource,
) -> eks.ManagedNodeGroup:
    """A managed node group in the given private subnets, keyed by its placed key."""
    group = placed.config
    return eks.ManagedNodeGroup(
        f"{name}-{placed.key}",
        cluster=cluster,
        node_role=node_role,
        node_group_name_prefix=f"{cluster_name}-{placed.key}-",
        subnet_ids=subnet_ids,
        instance_types=list(group.instance_types),
        capacity_type=group.capacity_type,
        ami_type=group.ami_type,
        disk_size=group.disk_size,
        scaling_config=aws.eks.NodeGroupScalingConfigArgs(
            min_size=group.min_size, desired_size=group.desired, max_size=group.max_size
        ),
        labels=group.all_labels(placed.config_name),
        taints=[aws.eks.NodeGroupTaintArgs(key=t.key, value=t.value, effect=t.effect) for t in group.all_taints],
        # The autoscaler owns the node count; `pulumi up` must not reset it to desiredSize.
        ignore_scaling_changes=True,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def asg_name(node_group: eks.ManagedNodeGroup) -> pulumi.Output[str]:
    """The Auto Scaling group EKS made for the node group (the autoscaler's tags go on it)."""
    # `Output.resources` is a method of Output, so the NodeGroup must be unwrapped first.
    resources = cast("pulumi.Output[Any]", node_group.node_group.apply(lambda ng: ng.resources))
    return resources.apply(lambda found: found[0].autoscaling_groups[0].name)
