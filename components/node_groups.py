"""One builder for every managed node group; the role-specific labels and taints come from the config."""

from __future__ import annotations

from typing import Any, cast

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks

from stackconfig.nodes import NodeGroupConfig


def managed_node_group(
    name: str,
    group_name: str,
    group: NodeGroupConfig,
    *,
    cluster: eks.Cluster,
    cluster_name: str,
    node_role: aws.iam.Role,
    subnet_ids: pulumi.Input[list[str]],
    parent: pulumi.Resource,
) -> eks.ManagedNodeGroup:
    """A managed node group in the private subnets of every AZ, keyed by its config name."""
    return eks.ManagedNodeGroup(
        f"{name}-{group_name}",
        cluster=cluster,
        node_role=node_role,
        node_group_name_prefix=f"{cluster_name}-{group_name}-",
        subnet_ids=subnet_ids,
        instance_types=list(group.instance_types),
        capacity_type=group.capacity_type,
        ami_type=group.ami_type,
        disk_size=group.disk_size,
        scaling_config=aws.eks.NodeGroupScalingConfigArgs(
            min_size=group.min_size, desired_size=group.desired, max_size=group.max_size
        ),
        labels=group.all_labels(group_name),
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
