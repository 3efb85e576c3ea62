"""What a stack costs with nobody logged in, and what one more user node of each group adds.

The estimate comes from `offline/prices.yaml` (dated list prices for one region) and the stack config;
it leaves out traffic, CloudWatch logs and the data stored on EFS, which grow with use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stackconfig import aws_catalog, kubernetes
from stackconfig.events import seats_per_node
from stackconfig.nodes import NodeGroupConfig
from stackconfig.stack import StackConfig

PRICES_FILE = Path(__file__).with_name("prices.yaml")
HUB_DB_GB = 1
# values/prometheus.yaml, alertmanager.persistence.size.
ALERTMANAGER_VOLUME_GIB = 1
# Hub down, home size, home throughput and I/O limit, spot interruptions; plus one per user or GPU group
# (components/alerts.py).
ALWAYS_ALARMS = 5


def load_prices(path: Path = PRICES_FILE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


@dataclass(frozen=True)
class CostLine:
    what: str
    monthly: float


@dataclass(frozen=True)
class IdleCost:
    lines: list[CostLine]
    per_node_hour: dict[str, float]
    prices: dict[str, Any]
    goal: float | None = None

    @property
    def monthly(self) -> float:
        return sum(line.monthly for line in self.lines)

    def render(self) -> str:
        out = [f"Idle cost (no users), {self.prices['region']} prices of {self.prices['as_of']}:"]
        out += [f"  {line.what:<58} ${line.monthly:>9.2f}/month" for line in self.lines]
        out.append(f"  {'total':<58} ${self.monthly:>9.2f}/month")
        if self.goal is not None:
            verdict = "under" if self.monthly <= self.goal else "OVER"
            out.append(
                f"  {f'goal ${self.goal:g}/month: {verdict} by':<58} ${abs(self.goal - self.monthly):>9.2f}/month"
            )
        out.append("One more user node, per hour (instance + disk; spot at the assumed discount):")
        out += [f"  {group:<58} ${price:>9.3f}/hour" for group, price in self.per_node_hour.items()]
        return "\n".join(out)


def instance_hour(group: NodeGroupConfig, prices: dict[str, Any]) -> float:
    """The dearest instance type the group may launch, for one hour (spot at the assumed discount)."""
    table = prices["on_demand_hour"]
    missing = [t for t in group.instance_types if t not in table]
    if missing:
        raise KeyError(f"offline/prices.yaml has no price for {', '.join(missing)}")
    instance = max(table[t] for t in group.instance_types)
    return instance * (1 - prices["spot_discount"]) if group.capacity_type == "SPOT" else instance


def disk_month(group: NodeGroupConfig, prices: dict[str, Any]) -> float:
    """One node's root disk for a month: its size, and its throughput and IOPS above gp3's included
    125 MiB/s and 3,000 IOPS."""
    return (
        group.disk_size * prices["gp3_gb_month"]
        + (group.image_disk_throughput - aws_catalog.gp3_range("Throughput")[0]) * prices["gp3_mibps_month"]
        + (group.image_disk_iops - aws_catalog.gp3_range("Iops")[0]) * prices["gp3_iops_month"]
    )


def node_hour(group: NodeGroupConfig, prices: dict[str, Any]) -> float:
    """One node of the group for an hour: instance plus root disk."""
    return instance_hour(group, prices) + disk_month(group, prices) / prices["hours_per_month"]


def control_plane(config: StackConfig, prices: dict[str, Any]) -> CostLine:
    """The control plane at the standard price, or the extended-support price once the stack pays it."""
    version = kubernetes.versions()[config.cluster.kubernetes_version]
    if config.cluster.support_type == "EXTENDED":
        if version.in_extended_support(kubernetes.today()):
            return CostLine(
                "EKS control plane (extended support)",
                prices["eks_control_plane_extended_hour"] * prices["hours_per_month"],
            )
        return CostLine(
            f"EKS control plane (extended support from {version.end_of_standard_support}: "
            f"${prices['eks_control_plane_extended_hour'] * prices['hours_per_month']:.0f})",
            prices["eks_control_plane_hour"] * prices["hours_per_month"],
        )
    return CostLine("EKS control plane", prices["eks_control_plane_hour"] * prices["hours_per_month"])


def nat(config: StackConfig, prices: dict[str, Any]) -> CostLine:
    """Egress: NAT gateways with their addresses, or one NAT instance with its address, disk and alarms."""
    hours = prices["hours_per_month"]
    network = config.network
    if network.existing:
        return CostLine("NAT (the existing VPC's, not this stack's)", 0.0)
    if network.nat_gateways == "instance":
        instance = prices["on_demand_hour"][network.nat_instance_type]
        return CostLine(
            f"NAT instance ({network.nat_instance_type}, public IPv4, {prices['nat_instance_disk_gb']} GiB, 2 alarms)",
            (instance + prices["public_ipv4_hour"]) * hours
            + prices["nat_instance_disk_gb"] * prices["gp3_gb_month"]
            + 2 * prices["cloudwatch_alarm_month"],
        )
    nats = network.az_count if network.nat_gateways == "perAz" else 1
    return CostLine(
        f"NAT gateways x{nats} (with their public IPv4)",
        nats * (prices["nat_gateway_hour"] + prices["public_ipv4_hour"]) * hours,
    )


def nat_egress_metrics(config: StackConfig) -> int:
    """Metrics the NAT egress alarm sums (components/egress_alarm.py): two per NAT gateway, one for a NAT
    instance, none in an existing VPC (its NAT is not the stack's)."""
    network = config.network
    if network.existing:
        return 0
    if network.nat_gateways == "instance":
        return 1
    return 2 * (network.az_count if network.nat_gateways == "perAz" else 1)


def scratch_month(prices: dict[str, Any]) -> float:
    """The scratch bucket's cost in the assumed month of use (prices.yaml, scratch_bucket_assumed_month)."""
    use = prices["scratch_bucket_assumed_month"]
    return (
        use["gb_stored"] * prices["s3_standard_gb_month"]
        + use["write_requests"] / 1000 * prices["s3_write_requests_per_1000"]
        + use["read_requests"] / 1000 * prices["s3_read_requests_per_1000"]
    )


def scratch_lines(config: StackConfig, prices: dict[str, Any]) -> list[CostLine]:
    """An empty bucket costs nothing; the line says what a month of use would."""
    if not config.storage.scratch_bucket.enabled:
        return []
    use = prices["scratch_bucket_assumed_month"]
    return [
        CostLine(
            f"S3 scratch as used (assumed {use['gb_stored']} GB kept, {use['write_requests'] / 1e6:g}M writes, "
            f"{use['read_requests'] / 1e6:g}M reads: ${scratch_month(prices):.2f}/month)",
            0.0,
        )
    ]


def monitoring_lines(config: StackConfig, prices: dict[str, Any]) -> list[CostLine]:
    """What seeing and hearing the hub adds while idle (README, Monitoring)."""
    monitoring, lines = config.monitoring, []
    if monitoring.prometheus.enabled:
        gib = monitoring.prometheus.volume_gib
        lines.append(CostLine(f"Prometheus volume ({gib} GiB gp3)", gib * prices["gp3_gb_month"]))
    logs = prices["log_volume_gb_month"]
    retained_months = monitoring.logs.retention_days / 30
    gb = logs["control_plane"] + (logs["containers"] if monitoring.logs.enabled else 0.0)
    lines.append(
        CostLine(
            f"CloudWatch Logs (~{gb:g} GB/month idle, kept {monitoring.logs.retention_days} days)",
            gb * (prices["logs_ingest_gb"] + prices["logs_storage_gb_month"] * retained_months),
        )
    )
    if monitoring.prometheus.enabled and monitoring.prometheus.rules.enabled and monitoring.alerts.enabled:
        # Alertmanager's pod fits the core nodes (tests/test_real_chain.py counts it); its volume is extra.
        gib = ALERTMANAGER_VOLUME_GIB
        lines.append(CostLine(f"Alertmanager volume ({gib} GiB gp3)", gib * prices["gp3_gb_month"]))
    if monitoring.alerts.enabled:
        alarms = ALWAYS_ALARMS + sum(1 for g in config.node_groups.values() if g.role != "core")
        lines.append(CostLine("Route 53 health check (HTTPS)", prices["route53_health_check_https_month"]))
        lines.append(CostLine(f"CloudWatch alarms x{alarms}", alarms * prices["cloudwatch_alarm_month"]))
        metrics = nat_egress_metrics(config)
        if metrics:
            lines.append(
                CostLine(
                    f"NAT egress alarm (metric math on {metrics}, each billed as an alarm)",
                    metrics * prices["cloudwatch_alarm_month"],
                )
            )
    return lines


def mirror_lines(config: StackConfig, prices: dict[str, Any]) -> list[CostLine]:
    """The Docker Hub mirror: its login secret, and the images it keeps (each image's compressed size, kept
    `keptDigests` times: an upper bound, as digests of one image share layers)."""
    mirror = config.hub.docker_hub_mirror
    if not mirror.enabled:
        return []
    gb = sum(image.size_gb or 0.0 for image in config.hub.images.values()) * mirror.kept_digests
    return [
        CostLine("Docker Hub mirror login (Secrets Manager secret)", prices["secrets_manager_secret_month"]),
        CostLine(
            f"Docker Hub mirror storage (ECR, up to {gb:g} GB: {mirror.kept_digests} digests of each image)",
            gb * prices["ecr_storage_gb_month"],
        ),
    ]


def warm_seat_lines(config: StackConfig, prices: dict[str, Any]) -> list[CostLine]:
    """Standing warm seats keep user nodes up: priced per month. An event's seats are priced for its dates
    (shown, not added to the monthly total)."""
    hub, hours = config.hub, prices["hours_per_month"]
    profiles = {p.slug: p for p in hub.profiles}

    def nodes(slug: str, seats: int) -> tuple[int, float]:
        profile = profiles[slug]
        group = config.node_groups[profile.node_group]
        count = math.ceil(seats / seats_per_node(profile, group))
        return count, count * node_hour(group, prices)

    lines = []
    for slug, seats in hub.warm_seats.items():
        if seats:
            count, hourly = nodes(slug, seats)
            group = profiles[slug].node_group
            lines.append(CostLine(f"warm seats: {seats} {slug} on {group} (x{count} nodes)", hourly * hours))
    for event in hub.events:
        count, hourly = nodes(event.profile, event.seats)
        once = hourly * 24 * ((event.end - event.start).days + 1)
        dates = f"{event.start}..{event.end}"
        lines.append(CostLine(f"warm seats of {event.name} {dates}: x{count} nodes, ${once:.0f} once", 0.0))
    return lines


def idle_cost(config: StackConfig, prices: dict[str, Any] | None = None, stack: str | None = None) -> IdleCost:
    prices = prices or load_prices()
    hours = prices["hours_per_month"]
    core_name, core = next((n, g) for n, g in config.node_groups.items() if g.role == "core")
    core_nodes = core.min_size * core.zones
    lines = [
        control_plane(config, prices),
        nat(config, prices),
        CostLine(
            f"core nodes x{core_nodes} ({core_name}, {core.capacity_type}, {core.min_size} per AZ in {core.zones})",
            core_nodes * instance_hour(core, prices) * hours,
        ),
        CostLine(
            f"core node disks x{core_nodes} ({core.disk_size} GiB gp3, {core.image_disk_throughput} MiB/s)",
            core_nodes * disk_month(core, prices),
        ),
        CostLine("hub load balancer (classic ELB)", prices["classic_load_balancer_hour"] * hours),
        CostLine(
            f"load balancer public IPv4 x{config.network.zone_count} (one per AZ)",
            config.network.zone_count * prices["public_ipv4_hour"] * hours,
        ),
        CostLine(f"hub database volume ({HUB_DB_GB} GiB gp3)", HUB_DB_GB * prices["gp3_gb_month"]),
        CostLine(
            f"EFS as used, $/GB-month: {prices['efs_standard_gb_month']:.2f} Standard, "
            f"{prices['efs_ia_gb_month']:.3f} IA, {prices['efs_archive_gb_month']:.3f} Archive",
            prices["efs_minimum_month"],
        ),
        *scratch_lines(config, prices),
        *monitoring_lines(config, prices),
        *mirror_lines(config, prices),
        *warm_seat_lines(config, prices),
    ]
    per_node = {name: node_hour(group, prices) for name, group in config.node_groups.items() if group.role != "core"}
    return IdleCost(lines, per_node, prices, prices["idle_goal_month"].get(stack) if stack else None)
