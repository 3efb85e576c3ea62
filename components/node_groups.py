"""One builder for every managed node group; the role-specific labels and taints come from the config."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email import encoders
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from typing import Any, cast

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import yaml

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


# What a parallel-pull group adds to EKS's own NodeConfig: nodeadm's feature gate for the SOCI snapshotter's
# parallel pull and unpack.
PARALLEL_PULL: dict[str, Any] = {
    "apiVersion": "node.eks.aws/v1alpha1",
    "kind": "NodeConfig",
    "spec": {"featureGates": {"FastImagePull": True}},
}


# IMDSv2 hop limit per role. Groups that run user servers: 1. The VPC CNI's policy agent, in its default
# standard mode, lets a new pod send anything until it has applied the pod's NetworkPolicy
# (aws/amazon-vpc-cni-k8s README, NETWORK_POLICY_ENFORCING_MODE), and a server's postStart runs the user's
# own git config in that window; the hop limit holds from the first packet, on the node itself, whatever the
# agent does. The pods on those nodes that are not host-network need no metadata (tests/test_metadata.py
# names each, from the rendered charts). Core nodes keep EKS's own default of 2: no user code runs there.
IMDS_HOPS = {"core": 2, "user": 1, "gpu": 1}


def managed_node_group(
    name: str,
    placed: PlacedGroup,
    *,
    cluster: eks.Cluster,
    cluster_name: str,
    kubernetes_version: str,
    cost_tags: Mapping[str, str],
    node_role: aws.iam.Role,
    subnet_ids: Sequence[pulumi.Input[str]],
    parent: pulumi.Resource,
) -> eks.ManagedNodeGroup:
    """A managed node group in the given private subnets, keyed by its placed key, launched from its own
    template (its root volume, the cost tags, and for parallel pull the NodeConfig)."""
    group = placed.config
    template = launch_template(f"{name}-{placed.key}", group, cost_tags, parent)
    return eks.ManagedNodeGroup(
        f"{name}-{placed.key}",
        cluster=cluster,
        node_role=node_role,
        node_group_name_prefix=f"{cluster_name}-{placed.key}-",
        subnet_ids=subnet_ids,
        instance_types=list(group.instance_types),
        capacity_type=group.capacity_type,
        ami_type=group.ami_type,
        # The disk size is in the template (EKS refuses it in both places).
        launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=template.id, version=template.latest_version.apply(str)),
        # pulumi-eks follows the cluster's version only for groups without a template (nodejs/eks/nodes/
        # nodegroup.ts, createManagedNodeGroup); named here, the groups are upgraded with the cluster.
        version=kubernetes_version,
        scaling_config=aws.eks.NodeGroupScalingConfigArgs(
            min_size=group.min_size, desired_size=group.desired, max_size=group.max_size
        ),
        labels=group.all_labels(placed.config_name),
        taints=[aws.eks.NodeGroupTaintArgs(key=t.key, value=t.value, effect=t.effect) for t in group.all_taints],
        # The autoscaler owns the node count; `pulumi up` must not reset it to desiredSize.
        ignore_scaling_changes=True,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def launch_template(
    name: str, group: NodeGroupConfig, cost_tags: Mapping[str, str], parent: pulumi.Resource
) -> aws.ec2.LaunchTemplate:
    """The group's launch template: a gp3 root volume with the group's size and throughput, the cost tags on
    every node and its disk (neither the provider's default tags nor a node group's own tags reach them),
    and for parallel pull a NodeConfig in the user data. No AMI is named, so EKS still picks and upgrades the
    AMI and adds its own NodeConfig (cluster, labels, taints) after ours; nodeadm merges the two."""
    return aws.ec2.LaunchTemplate(
        f"{name}-launch-template",
        block_device_mappings=[
            aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name=group.image_disk,
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_type="gp3",
                    volume_size=group.disk_size,
                    throughput=group.image_disk_throughput,
                    iops=group.image_disk_iops,
                    encrypted="true",
                    delete_on_termination="true",
                ),
            )
        ],
        tag_specifications=[
            aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=dict(cost_tags))
            for kind in ("instance", "volume")
        ],
        # IMDSv2 only. The hop limit is what keeps user code from the node role's credentials (SSM, ECR, ENIs,
        # every pod spec on the node) from a pod's first instant: IMDSv2's token answer then dies one hop out,
        # so only the node's own network namespace (kubelet, nodeadm, host-network add-ons) gets one.
        metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
            http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=IMDS_HOPS[group.role]
        ),
        user_data=nodeadm_user_data(PARALLEL_PULL) if group.image_pull == "parallel" else None,
        update_default_version=True,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def nodeadm_user_data(config: dict[str, Any]) -> str:
    """Launch-template user data (base64): a MIME multipart document whose application/node.eks.aws part
    nodeadm reads, the form EKS requires for AL2023 nodes of a managed group."""
    # A fixed boundary: a random one would change the template, and roll every node, on each `pulumi up`.
    document = MIMEMultipart(boundary="dandihub-nodeadm")
    document.attach(MIMEApplication(yaml.safe_dump(config), "node.eks.aws", _encoder=encoders.encode_7or8bit))
    return base64.b64encode(document.as_bytes()).decode()


def asg_name(node_group: eks.ManagedNodeGroup) -> pulumi.Output[str]:
    """The Auto Scaling group EKS made for the node group (the autoscaler's tags go on it)."""
    # `Output.resources` is a method of Output, so the NodeGroup must be unwrapped first.
    resources = cast("pulumi.Output[Any]", node_group.node_group.apply(lambda ng: ng.resources))
    return resources.apply(lambda found: found[0].autoscaling_groups[0].name)
