"""The EKS cluster with its node groups, the Kubernetes provider every in-cluster object uses, and the
node-level add-ons (EBS CSI for the hub's database volume, the NVIDIA device plugin for GPU nodes)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from components.helm_values import load_values
from components.irsa import addon_with_role
from components.node_groups import PlacedGroup, asg_name, managed_node_group, placed_groups
from stackconfig.cluster import ClusterConfig
from stackconfig.nodes import NodeGroupConfig

NODE_POLICIES = {
    "worker": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "cni": "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "ecr-read": "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    "ssm": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
}
CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
# Read-only on everything but Secrets (the EKS access policies' list); for the preview roles.
CLUSTER_VIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
EBS_CSI_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
NVIDIA_DEVICE_PLUGIN_REPO = "https://nvidia.github.io/k8s-device-plugin"
HUB_DB_STORAGE_CLASS = "gp3"


@dataclass(frozen=True)
class ClusterArgs:
    """The cluster's config slice, its node groups and where to put them."""

    config: ClusterConfig
    node_groups: dict[str, NodeGroupConfig]
    vpc_id: pulumi.Input[str]
    public_subnet_ids: pulumi.Input[list[str]]
    private_subnet_ids: pulumi.Input[list[str]]
    # The same private subnets by zone (AZ name; in an existing VPC, the subnet id), for per-zone groups.
    private_subnets: Mapping[str, pulumi.Input[str]]
    log_retention_days: int
    # The provider's default tags reach the launch templates, not the nodes they launch: the templates
    # pass these on to each node and its disk, so the bill by Stack (and the budget) includes them.
    cost_tags: Mapping[str, str]


def needs_device_plugin(node_groups: dict[str, NodeGroupConfig]) -> bool:
    """Bottlerocket NVIDIA AMIs ship the device plugin; the Amazon Linux GPU AMIs do not."""
    return any(g.role == "gpu" and not g.ami_type.startswith("BOTTLEROCKET") for g in node_groups.values())


class Cluster(pulumi.ComponentResource):
    """EKS control plane, node role, managed node groups and a Kubernetes provider for the cluster."""

    cluster_name: str
    kubeconfig: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]
    node_security_group_id: pulumi.Output[str]
    node_role_arn: pulumi.Output[str]
    placed_groups: list[PlacedGroup]
    node_groups: dict[str, eks.ManagedNodeGroup]
    node_group_asg_names: dict[str, pulumi.Output[str]]
    kubernetes_provider: k8s.Provider
    hub_db_storage_class: str = HUB_DB_STORAGE_CLASS
    hub_db_storage: k8s.storage.v1.StorageClass

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("dandihub:cluster:Cluster", name, None, opts)
        config = args.config
        child = pulumi.ResourceOptions(parent=self)
        self.cluster_name = config.name
        addons = config.addon_versions

        self.node_role = aws.iam.Role(
            f"{name}-node-role",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                    ],
                }
            ),
            opts=child,
        )
        for key, policy_arn in NODE_POLICIES.items():
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{key}",
                role=self.node_role.name,
                policy_arn=policy_arn,
                opts=pulumi.ResourceOptions(parent=self.node_role),
            )

        # EKS writes control-plane logs to this group; made first, it gets a retention instead of keeping
        # (and billing) every line forever.
        control_plane_logs = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=f"/aws/eks/{config.name}/cluster",
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        self.eks = eks.Cluster(
            f"{name}-eks",
            name=config.name,
            version=config.kubernetes_version,
            vpc_id=args.vpc_id,
            public_subnet_ids=args.public_subnet_ids,
            private_subnet_ids=args.private_subnet_ids,
            node_associate_public_ip_address=False,
            skip_default_node_group=True,
            # Managed node groups use the security group EKS creates; with this the cluster's
            # node_security_group_id output is that group, which EFS must admit.
            skip_default_security_groups=True,
            authentication_mode=eks.AuthenticationMode.API,
            # EKS itself gives whoever creates the cluster cluster-admin (config.created_by; never listed here).
            access_entries=access_entries(config),
            instance_roles=[self.node_role],
            create_oidc_provider=True,
            endpoint_public_access=config.endpoint_public_access,
            endpoint_private_access=config.endpoint_private_access,
            public_access_cidrs=list(config.public_access_cidrs),
            enabled_cluster_log_types=list(config.log_types),
            # STANDARD: at the end of standard support AWS upgrades the control plane rather than bill
            # extended support ($0.60/h instead of $0.10/h). docs/operations.md, Upgrades.
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type=config.support_type),
            # The chart's NetworkPolicies (hub, proxy, user servers) are inert unless the VPC CNI's
            # policy agent enforces them.
            # Prefix delegation: each ENI slot holds a /28 (16 pod IPs), and the managed node groups then let
            # the kubelet take 110 pods: a core t4g.medium holds every core pod (about 23; 17 pods and 15 pod
            # IPs without), at no extra cost (python -m plan, pods per core node; offline/core_pods.py).
            vpc_cni_options=eks.VpcCniOptionsArgs(
                enable_network_policy=True, enable_prefix_delegation=True, addon_version=addons["vpc-cni"]
            ),
            # Pinned per Kubernetes minor like every add-on: changing the minor upgrades them in the same `up`.
            coredns_addon_options=eks.CoreDnsAddonOptionsArgs(version=addons["coredns"]),
            kube_proxy_addon_options=eks.KubeProxyAddonOptionsArgs(version=addons["kube-proxy"]),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[control_plane_logs]),
        )
        self.kubeconfig = pulumi.Output.secret(self.eks.kubeconfig_json)
        self.oidc_provider_arn = self.eks.oidc_provider_arn
        self.oidc_issuer = self.eks.oidc_issuer
        self.node_security_group_id = self.eks.node_security_group_id
        self.node_role_arn = self.node_role.arn
        self.kubernetes_provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.eks.kubeconfig_json, opts=child)

        self.placed_groups = placed_groups(args.node_groups, list(args.private_subnets))
        self.node_groups = {
            placed.key: managed_node_group(
                name,
                placed,
                cluster=self.eks,
                cluster_name=config.name,
                kubernetes_version=config.kubernetes_version,
                cost_tags=args.cost_tags,
                node_role=self.node_role,
                subnet_ids=[args.private_subnets[zone] for zone in placed.zones],
                parent=self,
            )
            for placed in self.placed_groups
        }
        self.node_group_asg_names = {n: asg_name(g) for n, g in self.node_groups.items()}
        self._node_addons(name, config, args.node_groups, args.cost_tags)
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "kubeconfig": self.kubeconfig,
                "oidc_provider_arn": self.oidc_provider_arn,
                "node_security_group_id": self.node_security_group_id,
                "node_role_arn": self.node_role_arn,
            }
        )

    def _node_addons(
        self, name: str, config: ClusterConfig, groups: dict[str, NodeGroupConfig], cost_tags: Mapping[str, str]
    ) -> None:
        nodes = list(self.node_groups.values())
        self.ebs_csi_addon = addon_with_role(
            f"{name}-ebs-csi",
            cluster_name=config.name,
            addon_name="aws-ebs-csi-driver",
            addon_version=config.addon_versions["aws-ebs-csi-driver"],
            oidc_provider_arn=self.oidc_provider_arn,
            oidc_issuer=self.oidc_issuer,
            service_accounts=["ebs-csi-controller-sa"],
            policy_arn=EBS_CSI_POLICY,
            nodes=nodes,
            parent=self,
        )
        # The hub's sqlite database lives on an encrypted gp3 volume, created in the AZ where the hub first
        # runs (WaitForFirstConsumer); a core group in that AZ brings a lost core node back there.
        self.hub_db_storage = k8s.storage.v1.StorageClass(
            f"{name}-{HUB_DB_STORAGE_CLASS}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=HUB_DB_STORAGE_CLASS),
            provisioner="ebs.csi.aws.com",
            # The CSI driver makes these volumes (the hub's database, Prometheus): the provider's default tags
            # never reach them, so each cost tag is a tagSpecification_<n> "key=value" parameter
            # (kubernetes-sigs/aws-ebs-csi-driver pkg/driver/constants.go, TagKeyPrefix).
            parameters={
                "type": "gp3",
                "encrypted": "true",
                **{f"tagSpecification_{i}": f"{key}={value}" for i, (key, value) in enumerate(cost_tags.items(), 1)},
            },
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            reclaim_policy="Delete",
            opts=pulumi.ResourceOptions(
                parent=self, provider=self.kubernetes_provider, depends_on=[self.ebs_csi_addon]
            ),
        )
        if needs_device_plugin(groups):
            k8s.helm.v3.Release(
                f"{name}-nvidia-device-plugin",
                name="nvidia-device-plugin",
                chart="nvidia-device-plugin",
                version=config.nvidia_device_plugin_version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=NVIDIA_DEVICE_PLUGIN_REPO),
                namespace="kube-system",
                values=load_values("nvidia-device-plugin"),
                opts=pulumi.ResourceOptions(parent=self, provider=self.kubernetes_provider, depends_on=nodes),
            )


def access_entries(config: ClusterConfig) -> dict[str, eks.AccessEntryArgs]:
    """Cluster-admin for the deploy roles and the team, read-only for the preview roles: without an entry,
    CI's `pulumi preview` and `up` cannot reach the Kubernetes half after a person's first `up`."""
    granted = [(arn, "cluster-admin", CLUSTER_ADMIN_POLICY) for arn in config.admin_principals]
    granted += [(arn, "view", CLUSTER_VIEW_POLICY) for arn in config.viewer_principals]
    return {
        _entry_key(arn): eks.AccessEntryArgs(
            principal_arn=arn,
            access_policies={
                name: eks.AccessPolicyAssociationArgs(
                    policy_arn=policy,
                    access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                )
            },
        )
        for arn, name, policy in granted
    }


def _entry_key(principal_arn: str) -> str:
    """A stable access-entry key from the principal's ARN (its position in the list must not matter)."""
    return re.sub(r"[^a-zA-Z0-9-]", "-", principal_arn.split(":", 4)[-1]).strip("-").lower()
