"""The cluster autoscaler: its IAM policy and IRSA role, the ASG tags for scale-from-zero, its Helm release."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.helm_values import deep_merge, load_values
from components.irsa import service_account_role
from components.node_groups import PlacedGroup
from stackconfig.cluster import AutoscalerConfig
from stackconfig.nodes import NodeGroupConfig

CHART_REPO = "https://kubernetes.github.io/autoscaler"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cluster-autoscaler"
TAG_PREFIX = "k8s.io/cluster-autoscaler"

READ_ACTIONS = [
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities",
    "autoscaling:DescribeTags",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
    "eks:DescribeNodegroup",
]
WRITE_ACTIONS = ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]


@dataclass(frozen=True)
class ClusterAutoscalerArgs:
    """The autoscaler's config, the cluster it serves and the node groups whose ASGs it scales."""

    config: AutoscalerConfig
    image_tag: str
    region: str
    cluster_name: str
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    node_groups: list[PlacedGroup]
    asg_names: Mapping[str, pulumi.Input[str]]


def policy_document(cluster_name: str) -> dict:
    """Read anywhere; scale only ASGs tagged as this cluster's, so one hub never scales another's nodes."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Discover", "Effect": "Allow", "Action": READ_ACTIONS, "Resource": "*"},
            {
                "Sid": "ScaleOwnGroups",
                "Effect": "Allow",
                "Action": WRITE_ACTIONS,
                "Resource": "*",
                "Condition": {"StringEquals": {f"autoscaling:ResourceTag/{TAG_PREFIX}/{cluster_name}": "owned"}},
            },
        ],
    }


def asg_tags(cluster_name: str, group_name: str, group: NodeGroupConfig) -> dict[str, str]:
    """Discovery and node-template tags, derived from the group's own labels and taints.

    EKS does not copy managed node group labels and taints to the ASG, and the autoscaler can only
    build a node template for an empty group from these tags (or a live node, which a group at zero
    does not have).
    """
    tags = {f"{TAG_PREFIX}/enabled": "true", f"{TAG_PREFIX}/{cluster_name}": "owned"}
    for key, value in group.all_labels(group_name).items():
        tags[f"{TAG_PREFIX}/node-template/label/{key}"] = value
    for taint in group.all_taints:
        tags[f"{TAG_PREFIX}/node-template/taint/{taint.key}"] = f"{taint.value}:{taint.kubernetes_effect}"
    if group.role == "gpu":
        tags[f"{TAG_PREFIX}/node-template/resources/nvidia.com/gpu"] = str(group.gpus_per_node)
    return tags


class ClusterAutoscaler(pulumi.ComponentResource):
    """Scales the user and GPU node groups from zero and back."""

    policy_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    release_name: pulumi.Output[str | None]

    def __init__(self, name: str, args: ClusterAutoscalerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("dandihub:autoscaler:ClusterAutoscaler", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        policy = aws.iam.Policy(
            f"{name}-policy",
            description=f"Cluster autoscaler of EKS cluster {args.cluster_name}",
            policy=json.dumps(policy_document(args.cluster_name)),
            opts=child,
        )
        role = service_account_role(
            name,
            oidc_provider_arn=args.oidc_provider_arn,
            oidc_issuer=args.oidc_issuer,
            namespace=NAMESPACE,
            service_accounts=[SERVICE_ACCOUNT],
            policy_arns={"autoscaling": policy.arn},
            parent=self,
        )
        # Every group, core ones included: a hub pending on its volume's zone scales that zone's core group.
        for placed in args.node_groups:
            for key, value in asg_tags(args.cluster_name, placed.config_name, placed.config).items():
                aws.autoscaling.Tag(
                    f"{name}-{placed.key}-{_tag_slug(key)}",
                    autoscaling_group_name=args.asg_names[placed.key],
                    # The node launches with its own labels; these tags only describe it to the autoscaler.
                    tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                    opts=child,
                )
        computed = {
            "autoDiscovery": {"clusterName": args.cluster_name},
            "awsRegion": args.region,
            "image": {"tag": args.image_tag},
            "rbac": {"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": role.arn}}},
            "extraArgs": {
                "expander": ",".join(args.config.expander),
                "scale-down-unneeded-time": args.config.scale_down_unneeded_time,
            },
        }
        release = k8s.helm.v3.Release(
            f"{name}-release",
            name="cluster-autoscaler",
            chart="cluster-autoscaler",
            version=args.config.chart_version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPO),
            namespace=NAMESPACE,
            values=deep_merge(load_values("cluster-autoscaler"), computed),
            opts=child,
        )
        self.policy_arn = policy.arn
        self.role_arn = role.arn
        self.release_name = release.name
        self.register_outputs(
            {"policy_arn": self.policy_arn, "role_arn": self.role_arn, "release_name": self.release_name}
        )


def _tag_slug(key: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "-", key.removeprefix(f"{TAG_PREFIX}/")).strip("-").lower()
