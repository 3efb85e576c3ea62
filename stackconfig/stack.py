"""The stack config: one typed model, read once from Pulumi config and checked before anything runs.

Stack files hold camelCase keys under the `dandihub:` namespace (objects for structured settings) and
`aws:region`. `load()` turns them into a frozen `StackConfig` plus the secrets, or raises one
`ConfigError` that lists every problem with its key path, the bad value and what is allowed.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from stackconfig import faults, kubernetes
from stackconfig.cluster import AutoscalerConfig, ClusterConfig
from stackconfig.home_limits import limit_problems
from stackconfig.homes import HomesConfig
from stackconfig.hub import PRODUCTION_MAX_AGE, HubConfig
from stackconfig.monitoring import MonitoringConfig
from stackconfig.network import NetworkConfig
from stackconfig.nodes import NodeGroupConfig
from stackconfig.storage import StorageConfig
from stackconfig.types import ConfigModel, DnsLabel, Region


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
    homes: HomesConfig = Field(
        HomesConfig(),
        description="Home directories: usage, soft and hard limits (with per-user and per-group overrides), "
        "the weekly report and retention.",
    )

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
        problems += limit_problems(self)
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
        if not self.monitoring.prometheus.enabled:
            found.append(
                (
                    "homes.hardLimitGib",
                    "not enforced: the hub measures homes through Prometheus (monitoring.prometheus.enabled is "
                    "false), so every user gets the full menu and only the weekly report's soft-limit notice remains",
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
