"""The stack config: one typed model, read once from Pulumi config and checked before anything runs.

Stack files hold camelCase keys under the `dandihub:` namespace (objects for structured settings) and
`aws:region`. `load()` turns them into a frozen `StackConfig` plus the secrets, or raises one
`ConfigError` that lists every problem with its key path, the bad value and what is allowed.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from stackconfig import aws_catalog, faults, kubernetes
from stackconfig.homes import HomesConfig
from stackconfig.hub import PRODUCTION_MAX_AGE, HubConfig
from stackconfig.monitoring import MonitoringConfig
from stackconfig.nodes import NodeGroupConfig
from stackconfig.types import (
    Cidr,
    ConfigModel,
    DnsLabel,
    EfsPerformanceMode,
    EfsThroughputMode,
    InstanceType,
    LogType,
    Region,
    SupportType,
    unique,
)


def _resource_ids(values: list[str], prefix: str, what: str) -> list[str]:
    """EC2 resource ids of one kind (`subnet-...`, `rtb-...`), each once."""
    bad = [v for v in values if not re.match(rf"^{prefix}-[0-9a-f]{{8,17}}$", v)]
    if bad:
        raise ValueError(f"not {what} ids: {', '.join(bad)} (expected {prefix}-0123abcd...)")
    unique(values, what)
    return values


class ExistingNetwork(ConfigModel):
    """An existing VPC to build in instead of creating one."""

    vpc_id: str = Field(pattern=r"^vpc-[0-9a-f]{8,17}$", description="The VPC id.")
    public_subnet_ids: list[str] = Field(min_length=1, description="Subnets for load balancers.")
    private_subnet_ids: list[str] = Field(min_length=1, description="Subnets for nodes and EFS.")
    s3_endpoint_route_table_ids: list[str] = Field(
        [],
        description="Route tables of the private subnets to give an S3 gateway endpoint (the stack creates "
        "it). Empty: the VPC must have one already, or archive reads and ECR layers go through NAT "
        "(the config check warns).",
    )

    @field_validator("public_subnet_ids", "private_subnet_ids")
    @classmethod
    def _subnet_ids(cls, values: list[str]) -> list[str]:
        return _resource_ids(values, "subnet", "subnet")

    @field_validator("s3_endpoint_route_table_ids")
    @classmethod
    def _route_table_ids(cls, values: list[str]) -> list[str]:
        return _resource_ids(values, "rtb", "route table")


class NetworkConfig(ConfigModel):
    """VPC layout. Defaults: 10.0.0.0/16 over 3 AZs with one shared NAT gateway."""

    cidr: Cidr = Field("10.0.0.0/16", description="VPC CIDR, /16 to /20. Default 10.0.0.0/16.")
    az_count: int = Field(3, ge=2, le=6, description="AZs to spread subnets over, 2-6. Default 3.")
    nat_gateways: Literal["single", "perAz", "instance"] = Field(
        "single",
        description="Egress: one shared NAT gateway, one per AZ (resilient), or one small NAT instance "
        "(cheapest; EC2 recovers it; refused on production). Default single.",
    )
    nat_instance_type: InstanceType = Field("t4g.nano", description="With natGateways instance: its type.")
    existing: ExistingNetwork | None = Field(None, description="Use this VPC; create no network.")

    @property
    def s3_endpoint(self) -> bool:
        """Whether the private side reaches S3 through a gateway endpoint of this stack: always in a new VPC,
        in an existing one on the route tables listed."""
        return self.existing is None or bool(self.existing.s3_endpoint_route_table_ids)

    @property
    def zone_count(self) -> int:
        """How many AZs (or, in an existing VPC, private subnets) nodes can be placed in."""
        return len(self.existing.private_subnet_ids) if self.existing else self.az_count

    @field_validator("cidr")
    @classmethod
    def _prefix(cls, value: str) -> str:
        prefix = int(value.split("/")[1])
        if not 16 <= prefix <= 20:
            raise ValueError(f"{value!r}: the VPC prefix must be /16 to /20 to hold 2 subnets per AZ")
        return value


_PRINCIPAL = re.compile(r"^arn:aws:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")
# What `aws sts get-caller-identity` prints for a role session (SSO included): a session, not an identity.
_ASSUMED_ROLE = re.compile(r"^arn:aws:sts::(\d{12}):assumed-role/([\w+=,.@-]+)/[\w+=,.@-]+$")


def _principal_arns(values: list[str]) -> None:
    """IAM role or user ARNs; an assumed-role session is refused with the role ARN to use instead."""
    problems = []
    for value in values:
        session = _ASSUMED_ROLE.match(value)
        if session:
            account, role = session.groups()
            sso = (
                " with its path, aws-reserved/sso.amazonaws.com/[<region>/]"
                if role.startswith("AWSReservedSSO_")
                else ""
            )
            problems.append(
                f"{value} is a role session (what `aws sts get-caller-identity` prints), which EKS access entries "
                f"do not take; use the role's ARN, arn:aws:iam::{account}:role/{role}{sso} "
                f"(`aws iam get-role --role-name {role} --query Role.Arn --output text` prints it)"
            )
        elif not _PRINCIPAL.match(value):
            problems.append(f"not an IAM role or user ARN: {value} (expected arn:aws:iam::<account>:role/<name>)")
    if problems:
        raise ValueError("; ".join(problems))


class ClusterConfig(ConfigModel):
    """The EKS control plane."""

    name: str = Field(pattern=r"^[a-zA-Z][a-zA-Z0-9-]{0,99}$", description="EKS cluster name.")
    kubernetes_version: str = Field(
        description=f"Pinned minor version, one of {', '.join(kubernetes.versions())} "
        "(stackconfig/kubernetes_versions.yaml)."
    )
    support_type: SupportType = Field(
        "STANDARD",
        description="At the end of standard support: STANDARD (AWS upgrades the control plane) or EXTENDED "
        "(stays, billed $0.60/h instead of $0.10/h). Default STANDARD.",
    )
    endpoint_public_access: bool = Field(True, description="Public API endpoint. Default true.")
    endpoint_private_access: bool = Field(True, description="Private API endpoint. Default true.")
    public_access_cidrs: list[Cidr] = Field(["0.0.0.0/0"], description="Who may reach the public endpoint.")
    log_types: list[LogType] = Field(
        ["api", "audit", "authenticator"], description="Control-plane logs sent to CloudWatch."
    )
    created_by: str | None = Field(
        None,
        description="The IAM role or user ARN that ran the first `pulumi up`: EKS gave it cluster-admin itself, "
        "so it may not be listed again (EKS refuses a second access entry for one ARN).",
    )
    admin_principals: list[str] = Field(
        [],
        description="IAM role/user ARNs given cluster-admin (AmazonEKSClusterAdminPolicy): the deploy roles "
        "and the team's roles.",
    )
    viewer_principals: list[str] = Field(
        [], description="IAM role/user ARNs given read-only access (AmazonEKSViewPolicy): the preview roles."
    )
    nvidia_device_plugin_version: str = Field(
        "0.17.1", pattern=r"^\d+\.\d+\.\d+$", description="NVIDIA device plugin chart version."
    )

    @property
    def addon_versions(self) -> dict[str, str]:
        """The EKS add-on versions of this Kubernetes minor (stackconfig/kubernetes_versions.yaml)."""
        return kubernetes.versions()[self.kubernetes_version].addons

    @field_validator("kubernetes_version", mode="before")
    @classmethod
    def _quoted(cls, value: object) -> object:
        if isinstance(value, float | int):
            # YAML reads 1.30 as the number 1.3, so the version must be a string.
            raise ValueError(f'{value!r} is a number; write the version quoted, e.g. "1.34"')
        return value

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, value: str) -> str:
        known = tuple(kubernetes.versions())
        if value not in known:
            raise ValueError(
                f"{aws_catalog.not_allowed(value, known, 'EKS Kubernetes version')}. A minor missing here is "
                "added to stackconfig/kubernetes_versions.yaml with its EKS support dates and cluster-autoscaler "
                "patch (docs/operations.md, Upgrades)"
            )
        return value

    @field_validator("log_types")
    @classmethod
    def _logs(cls, values: list[str]) -> list[str]:
        unique(values, "log type")
        return values

    @field_validator("created_by")
    @classmethod
    def _creator(cls, value: str | None) -> str | None:
        if value is not None:
            _principal_arns([value])
        return value

    @field_validator("admin_principals", "viewer_principals")
    @classmethod
    def _principals(cls, values: list[str]) -> list[str]:
        _principal_arns(values)
        unique(values, "principal")
        return values

    @model_validator(mode="after")
    def _one_entry_per_principal(self) -> ClusterConfig:
        """EKS keeps one access entry per ARN (botocore eks 2017-11-01 CreateAccessEntry: "You can't
        specify the same ARN in more than one access entry"), and pulumi-eks always has EKS make the
        creator's (bootstrapClusterCreatorAdminPermissions: true; pulumi/pulumi-eks@7bf0c1b1,
        nodejs/eks/cluster/cluster.ts, unchanged since v4.3.0)."""
        both = sorted(set(self.admin_principals) & set(self.viewer_principals))
        if both:
            raise ValueError(
                f"{', '.join(both)} in both adminPrincipals and viewerPrincipals: EKS keeps one entry "
                "per ARN; keep it in one list"
            )
        if self.created_by in (*self.admin_principals, *self.viewer_principals):
            raise ValueError(
                f"{self.created_by} is createdBy: EKS made its cluster-admin entry when it created the cluster "
                "and refuses a second one; remove it from adminPrincipals/viewerPrincipals"
            )
        return self


class AutoscalerConfig(ConfigModel):
    """The cluster autoscaler Helm release."""

    chart_version: str = Field("9.56.0", pattern=r"^\d+\.\d+\.\d+$", description="cluster-autoscaler chart.")
    image_tag: str | None = Field(
        None,
        pattern=r"^v1\.\d+\.\d+$",
        description="Image tag; its minor must match the cluster's. Default: the newest patch of that minor "
        "(stackconfig/kubernetes_versions.yaml).",
    )
    expander: list[Literal["least-waste", "random", "most-pods", "price", "priority", "least-nodes"]] = Field(
        ["least-waste"], min_length=1, description="Expanders in order of preference. Default least-waste."
    )
    scale_down_unneeded_time: str = Field(
        "10m", pattern=r"^\d+[smh]$", description="How long a node must be idle before removal."
    )


class EfsConfig(ConfigModel):
    """The shared EFS file system that holds every home directory."""

    performance_mode: EfsPerformanceMode = Field("generalPurpose", description="EFS performance mode (API value).")
    throughput_mode: EfsThroughputMode = Field(
        "elastic", description="EFS throughput mode (API value). Default elastic."
    )
    provisioned_throughput_mibps: float | None = Field(None, gt=0, description="Only with provisioned.")
    transition_to_ia_days: int | None = Field(30, description="Days before Infrequent Access; null = never.")
    transition_to_archive_days: int | None = Field(
        90, description="Days untouched before EFS Archive (elastic throughput only); null = never. Default 90."
    )
    backups: bool = Field(False, description="AWS Backup of the file system. Prod: true.")
    protect: bool = Field(False, description="Refuse any plan that deletes or replaces it. Prod: true.")
    kms_key_arn: str | None = Field(
        None, pattern=r"^arn:aws:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]+$", description="KMS key; default AWS-managed."
    )
    existing_file_system_id: str | None = Field(
        None, pattern=r"^fs-[0-9a-f]{8,17}$", description="Adopt this retained file system instead."
    )

    @field_validator("transition_to_ia_days")
    @classmethod
    def _ia(cls, value: int | None) -> int | None:
        if value is not None:
            days = [r.split("_")[1] for r in aws_catalog.efs_ia_transitions()]
            aws_catalog.check_in(str(value), tuple(days), "EFS transition to IA, in days")
        return value

    @field_validator("transition_to_archive_days")
    @classmethod
    def _archive(cls, value: int | None) -> int | None:
        if value is not None:
            days = [r.split("_")[1] for r in aws_catalog.enum("efs", "TransitionToArchiveRules")]
            aws_catalog.check_in(str(value), tuple(days), "EFS transition to Archive, in days")
        return value

    @property
    def transition_to_archive(self) -> str | None:
        return None if self.transition_to_archive_days is None else f"AFTER_{self.transition_to_archive_days}_DAYS"

    @model_validator(mode="after")
    def _provisioned(self) -> EfsConfig:
        if self.transition_to_archive_days is not None and self.throughput_mode != "elastic":
            raise ValueError("transitionToArchiveDays needs throughputMode elastic (an EFS rule); set it null")
        if self.transition_to_archive_days is not None and (
            self.transition_to_ia_days is None or self.transition_to_archive_days <= self.transition_to_ia_days
        ):
            raise ValueError(
                "transitionToArchiveDays must come after transitionToIaDays (files reach Archive after IA)"
            )
        if (self.throughput_mode == "provisioned") != (self.provisioned_throughput_mibps is not None):
            raise ValueError("provisionedThroughputMibps is needed with, and only with, throughputMode provisioned")
        return self

    @property
    def transition_to_ia(self) -> str | None:
        """The EFS API value, e.g. AFTER_30_DAYS."""
        if self.transition_to_ia_days is None:
            return None
        unit = "DAY" if self.transition_to_ia_days == 1 else "DAYS"
        return f"AFTER_{self.transition_to_ia_days}_{unit}"


class ScratchBucketConfig(ConfigModel):
    """Per-user cloud scratch: one S3 bucket, each user server confined to its own prefix."""

    enabled: bool = Field(True, description="Create the bucket and give servers SCRATCH_BUCKET. Default true.")
    expire_after_days: int = Field(
        30, ge=1, le=365, description="Days after which S3 deletes an object (lifecycle rule). Default 30."
    )


class StorageConfig(ConfigModel):
    """Shared storage for the hub."""

    efs: EfsConfig = Field(EfsConfig(), description="The EFS file system.")
    scratch_bucket: ScratchBucketConfig = Field(ScratchBucketConfig(), description="Per-user S3 scratch.")
    introspection_pod: bool = Field(False, description="A small pod mounting the share at /efs.")


class CostTags(ConfigModel):
    """Cost-allocation tags put on every AWS resource through the provider's default tags."""

    owner: str = Field("dandi", min_length=1, max_length=256, description="Owner tag. Default dandi.")
    cost_center: str = Field("dandihub", min_length=1, max_length=256, description="CostCenter tag.")


class StackConfig(ConfigModel):
    """Everything one stack file says, checked."""

    region: Region = Field(description="aws:region: the AWS region.")
    production: bool = Field(False, description="A production stack: stricter rules apply.")
    cost_tags: CostTags = Field(CostTags(), description="Owner and cost centre tags.")
    network: NetworkConfig = Field(NetworkConfig(), description="The VPC.")
    cluster: ClusterConfig = Field(description="The EKS control plane.")
    node_groups: dict[DnsLabel, NodeGroupConfig] = Field(min_length=1, description="Managed node groups by name.")
    autoscaler: AutoscalerConfig = Field(AutoscalerConfig(), description="The cluster autoscaler.")
    storage: StorageConfig = Field(StorageConfig(), description="Shared EFS storage.")
    hub: HubConfig = Field(description="The JupyterHub release.")
    monitoring: MonitoringConfig = Field(MonitoringConfig(), description="Metrics, dashboards, logs and alerts.")
    homes: HomesConfig = Field(HomesConfig(), description="Usage, soft limit and retention of the home directories.")

    @model_validator(mode="before")
    @classmethod
    def _production_max_age(cls, raw: Any) -> Any:
        """A production stack stops servers after PRODUCTION_MAX_AGE unless hub.culling.maxAge says otherwise
        (0 lifts it)."""
        # Before validation: config values arrive as the engine passes them ("true" is a string).
        if not isinstance(raw, dict) or str(raw.get("production")).lower() != "true":
            return raw
        hub = raw.get("hub")
        if not isinstance(hub, dict):
            return raw  # missing or malformed: the model's own errors say so
        culling = hub.get("culling", {})
        if not isinstance(culling, dict) or "maxAge" in culling or "max_age" in culling:
            return raw  # set by the stack file, or malformed
        return {**raw, "hub": {**hub, "culling": {**culling, "maxAge": PRODUCTION_MAX_AGE}}}

    def problems(self) -> list[tuple[str, str]]:
        """Rules that span sections, as (key path, message) pairs; empty when all hold."""
        problems = []
        roles = [g.role for g in self.node_groups.values()]
        if roles.count("core") != 1:
            problems.append(("nodeGroups", f"exactly one group must have role core, found {roles.count('core')}"))
        if "user" not in roles:
            problems.append(("nodeGroups", "at least one group must have role user"))
        for name, group in self.node_groups.items():
            if group.zones > self.network.zone_count:
                problems.append(
                    (
                        f"nodeGroups.{name}.zones",
                        f"{group.zones} zones, but the network has {self.network.zone_count} (network.azCount)",
                    )
                )
        if self.autoscaler_image_tag.rsplit(".", 1)[0] != "v" + self.cluster.kubernetes_version:
            problems.append(
                (
                    "autoscaler.imageTag",
                    f"{self.autoscaler_image_tag!r} must match cluster.kubernetesVersion "
                    f"{self.cluster.kubernetes_version} (v{self.cluster.kubernetes_version}.x)",
                )
            )
        retention = self.homes.retention
        if retention.archive_after_days <= retention.warn_after_days:
            problems.append(
                ("homes.retention.archiveAfterDays", "must come after warnAfterDays, so users are warned before")
            )
        if self.monitoring.grafana.enabled and not self.monitoring.prometheus.enabled:
            problems.append(("monitoring.grafana.enabled", "Grafana shows Prometheus's metrics: enable prometheus too"))
        if self.monitoring.alerts.enabled and not self.monitoring.alerts.emails:
            problems.append(("monitoring.alerts.emails", "alerts are on but nobody is told: list at least one e-mail"))
        prometheus = self.monitoring.prometheus
        if prometheus.enabled and prometheus.rules.enabled and not self.monitoring.alerts.enabled:
            problems.append(
                (
                    "monitoring.prometheus.rules.enabled",
                    "the rules' alerts go to the alerts' SNS topic: enable alerts, or set rules.enabled: false",
                )
            )
        problems += self._production_rules()
        errors, _ = self._lifecycle()
        problems += [("cluster.kubernetesVersion", e) for e in errors]
        problems += self.hub.problems_with(self.region, self.production, self.node_groups)
        return problems

    def _production_rules(self) -> list[tuple[str, str]]:
        """What the policy pack refuses on production and the config alone decides, refused here too, so a
        local `pulumi up` (which loads no policy pack) is as safe as CI. The shared-password rule is in HubConfig."""
        if not self.production:
            return []
        efs = self.storage.efs
        rules = [
            ("storage.efs.protect", efs.protect, "production protects the home file system (protect: true)"),
            ("storage.efs.backups", efs.backups, "production backs up the home file system (backups: true)"),
        ]
        rules.append(
            (
                "network.natGateways",
                self.network.nat_gateways != "instance",
                "production egress goes through NAT gateways (perAz), not a NAT instance",
            )
        )
        problems = [(path, message) for path, holds, message in rules if not holds]
        problems += [
            (
                "nodeGroups",
                f"on production every fault recovers without a person (or is accepted in the README); "
                f"'{fault.name}' needs one: {fault.how}",
            )
            for fault in faults.unaccepted(faults.faults(self.layout()))
        ]
        return problems

    def layout(self) -> faults.Layout:
        """The fault model's view of this config (zones named zone-1, zone-2, ...: AZ names come from AWS)."""
        zones = tuple(f"zone-{i + 1}" for i in range(self.network.zone_count))
        core = [
            faults.CoreGroup(f"{name}-{zone}", (zone,), group.min_size)
            for name, group in self.node_groups.items()
            if group.role == "core"
            for zone in zones[: group.zones]
        ]
        if self.network.existing:
            nat_of: dict[str, str | None] = dict.fromkeys(zones)
        else:
            nat_of = {z: (z if self.network.nat_gateways == "perAz" else zones[0]) for z in zones}
        spot = tuple(sorted(n for n, g in self.node_groups.items() if g.capacity_type == "SPOT"))
        nat_kind: Literal["gateway", "instance"] = "instance" if self.network.nat_gateways == "instance" else "gateway"
        return faults.Layout(zones, tuple(core), nat_of, zones, zones, spot, nat_kind=nat_kind)

    def warnings(self) -> list[tuple[str, str]]:
        """What deploys but needs attention soon, as (key path, message) pairs."""
        _, warnings = self._lifecycle()
        found = [("cluster.kubernetesVersion", w) for w in warnings]
        if self.network.existing and not self.network.existing.s3_endpoint_route_table_ids:
            found.append(
                (
                    "network.existing.s3EndpointRouteTableIds",
                    "empty: the VPC must already have an S3 gateway endpoint on its private route tables, or "
                    "archive reads and ECR image layers pay NAT processing (list the route tables to add one)",
                )
            )
        used = {p.node_group for p in self.hub.profiles}
        found += [
            (f"nodeGroups.{name}", f"no profile runs on the {group.role} group {name!r}: capacity nobody can reach")
            for name, group in self.node_groups.items()
            if group.role != "core" and name not in used
        ]
        return found

    def _lifecycle(self) -> tuple[list[str], list[str]]:
        return kubernetes.problems(self.cluster.kubernetes_version, self.cluster.support_type, kubernetes.today())

    @property
    def autoscaler_image_tag(self) -> str:
        """The configured tag, or the newest patch of the cluster's minor."""
        return self.autoscaler.image_tag or kubernetes.versions()[self.cluster.kubernetes_version].autoscaler
