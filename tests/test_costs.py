"""The idle-cost estimate follows from the price table and the stack config."""

from __future__ import annotations

import json

import pytest

from offline.costs import idle_cost, load_prices
from offline.engine import Plan
from stackconfig import kubernetes
from tests.conftest import TINY_PROFILE, in_component, plan_with, stack_config

PRICES = load_prices()


def expected_monthly(plan: Plan) -> float:
    """Worked out from the raw stack file and the recorded resources, independently of the estimate's code."""
    config = stack_config(plan)
    network, groups = config["dandihub:network"], config["dandihub:nodeGroups"]
    hours = PRICES["hours_per_month"]
    ipv4 = PRICES["public_ipv4_hour"]
    if network["natGateways"] == "instance":
        nat = (PRICES["on_demand_hour"]["t4g.nano"] + ipv4) * hours + 8 * PRICES["gp3_gb_month"] + 0.2
    else:
        nat = (
            (network["azCount"] if network["natGateways"] == "perAz" else 1)
            * (PRICES["nat_gateway_hour"] + ipv4)
            * hours
        )
    core = groups["core"]
    core_nodes = core["minSize"] * core.get("zones", 1)
    core_hour = max(PRICES["on_demand_hour"][t] for t in core["instanceTypes"])
    hourly = PRICES["eks_control_plane_hour"] + core_nodes * core_hour + PRICES["classic_load_balancer_hour"]
    hourly += network["azCount"] * ipv4  # the load balancer's address in each AZ
    disks = core_nodes * core.get("diskSize", 50) + 1
    return (
        hourly * hours
        + nat
        + disks * PRICES["gp3_gb_month"]
        + PRICES["efs_minimum_month"]
        + monitoring_monthly(plan)
        + mirror_monthly(plan)
    )


def mirror_monthly(plan: Plan) -> float:
    """The Docker Hub mirror from the recorded resources: each secret, and each configured image's size kept as
    many times as the cache's lifecycle rule keeps digests."""
    sizes = sum(i.get("sizeGb", 0) for i in stack_config(plan)["dandihub:hub"].get("images", {}).values())
    kept = [
        json.loads(t.inputs["lifecyclePolicy"])["rules"][0]["selection"]["countNumber"]
        for t in plan.of_type("aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate")
    ]
    return (
        len(plan.of_type("aws:secretsmanager/secret:Secret")) * PRICES["secrets_manager_secret_month"]
        + sum(kept) * sizes * PRICES["ecr_storage_gb_month"]
    )


def monitoring_monthly(plan: Plan) -> float:
    """Monitoring's idle cost counted from the recorded resources: the Prometheus volume its release asks
    for, each health check and alarm, and the estimated log volume into the groups it keeps."""
    prometheus = [r for r in plan.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "prometheus"]
    gib = sum(int(r.inputs["values"]["server"]["persistentVolume"]["size"].removesuffix("Gi")) for r in prometheus)
    gib += sum(
        int(r.inputs["values"]["alertmanager"]["persistence"]["size"].removesuffix("Gi"))
        for r in prometheus
        if r.inputs["values"]["alertmanager"]["enabled"]
    )
    volumes = PRICES["log_volume_gb_month"]
    containers = bool(
        plan.of_type("aws:eks/addon:Addon")
        and [
            a for a in plan.of_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "amazon-cloudwatch-observability"
        ]
    )
    gb = volumes["control_plane"] + (volumes["containers"] if containers else 0)
    days = plan.one("aws:cloudwatch/logGroup:LogGroup", "cluster-control-plane-logs").inputs["retentionInDays"]
    return (
        gib * PRICES["gp3_gb_month"]
        + len(plan.of_type("aws:route53/healthCheck:HealthCheck")) * PRICES["route53_health_check_https_month"]
        + len([a for a in in_component(plan, "dandihub:alerts:Alerts") if a.type.endswith("MetricAlarm")])
        * PRICES["cloudwatch_alarm_month"]
        # The NAT egress alarm (its own component) is billed per metric it reads.
        + sum(
            len([q for q in a.inputs["metricQueries"] if "metric" in q])
            for a in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
            if a.name == "egress-nat-egress"
        )
        * PRICES["cloudwatch_alarm_month"]
        + gb * (PRICES["logs_ingest_gb"] + PRICES["logs_storage_gb_month"] * days / 30)
    )


def test_idle_cost_sums_follow_from_the_table(plan: Plan) -> None:
    estimate = idle_cost(plan.config)
    assert estimate.monthly == pytest.approx(expected_monthly(plan))


def test_known_totals_meet_the_goals(staging: Plan, prod: Plan) -> None:
    # staging: 730 h x (0.10 EKS + 0.0336 t4g.medium + 0.025 ELB + 2 x 0.005 LB IPv4)
    #   + NAT instance: 730 h x (0.0042 t4g.nano + 0.005 IPv4) + 8 GiB x 0.08 + 2 alarms x 0.10
    #   + 21 GiB gp3 x 0.08 (core disk, hub database)
    #   + monitoring: 10 + 1 GiB gp3 (Prometheus, Alertmanager: 0.88), 3 GB of logs kept 30 days (1.59),
    #     health check (1.50), 8 alarms (0.80)
    staging_total = 730 * (0.10 + 0.0336 + 0.025 + 0.010) + 730 * (0.0042 + 0.005) + 0.64 + 0.20 + 21 * 0.08
    staging_total += 0.88 + 1.59 + 1.50 + 0.80
    #   + the Docker Hub mirror: its login secret (0.40) and 3 digests of 4 + 7 + 9 GB of images at 0.10
    #   + the NAT egress alarm on the NAT instance's NetworkOut (0.10)
    staging_total += 0.40 + 3 * 20 * 0.10 + 0.10
    assert idle_cost(staging.config).monthly == pytest.approx(staging_total, abs=0.01)
    assert idle_cost(staging.config).monthly <= PRICES["idle_goal_month"]["staging"] == 150
    # prod keeps its resilience: core nodes in two AZs and a NAT gateway in each.
    assert idle_cost(prod.config).monthly <= PRICES["idle_goal_month"]["prod"] == 350
    assert len(prod.of_type("aws:ec2/natGateway:NatGateway")) == 3
    assert (
        len(
            {
                g.inputs["subnetIds"][0]
                for g in prod.of_type("eks:index:ManagedNodeGroup")
                if g.name.startswith("cluster-core")
            }
        )
        == 2
    )


def test_the_plan_prints_the_difference_to_the_goal(staging: Plan) -> None:
    text = idle_cost(staging.config, stack="staging").render()
    assert "goal $150/month: under by" in text
    over = idle_cost(plan_with("staging", set_={"network.natGateways": "perAz"}).config, stack="staging")
    assert over.monthly > 150 and "goal $150/month: OVER by" in over.render()


VARIANTS = {
    "nat-instance-introspection-adopted": {"storage.introspectionPod": True,
                                           "storage.efs.existingFileSystemId": "fs-0123456789abcdef0"},
    "dns-record": {"hub.route53ZoneId": "Z0123456789ABCDEFGHIJ"},
    "warm-seats": {"hub.warmSeats": {"base": 1}},
    "event-today": {"hub.events": [{"name": "today", "profile": "workshop", "seats": 1,
                                    "start": str(kubernetes.today()), "end": str(kubernetes.today())}]},
}  # fmt: skip


@pytest.mark.parametrize("variant", ["committed", *VARIANTS])
def test_every_resource_type_is_priced_or_says_why_not(variant: str, plan: Plan) -> None:
    """A new always-on resource type without a price fails here; a priced one must have its cost line."""
    run = plan if variant == "committed" else plan_with(plan.stack, set_=VARIANTS[variant])
    table, charts = PRICES["resource_types"], PRICES["charts"]
    lines = [line.what for line in idle_cost(run.config).lines]
    for r in run.resources:
        if r.type.startswith("dandihub:"):
            continue
        if r.type == "kubernetes:helm.sh/v3:Release":
            assert r.inputs["chart"] in charts, f"chart {r.inputs['chart']} is not in offline/prices.yaml charts"
            entry = charts[r.inputs["chart"]]
        else:
            assert r.type in table, f"{r.type} ({r.name}) is not in offline/prices.yaml resource_types"
            entry = table[r.type]
        if not entry.startswith(("free:", "usage:")):
            assert any(line.startswith(entry) for line in lines), f"{r.type} {r.name}: no cost line {entry!r}"


def test_the_type_check_has_teeth(staging: Plan) -> None:
    table = dict(PRICES["resource_types"])
    del table["aws:route53/healthCheck:HealthCheck"]
    unlisted = {r.type for r in staging.resources if not r.type.startswith("dandihub:") and r.type not in table}
    assert unlisted == {"aws:route53/healthCheck:HealthCheck", "kubernetes:helm.sh/v3:Release"}


def test_one_more_user_node_per_group(plan: Plan) -> None:
    config = stack_config(plan)["dandihub:nodeGroups"]
    per_hour = idle_cost(plan.config).per_node_hour
    assert set(per_hour) == {name for name, group in config.items() if group["role"] != "core"}
    for name, group in config.items():
        if group["role"] == "core":
            continue
        instance = max(PRICES["on_demand_hour"][t] for t in group["instanceTypes"])
        if group.get("capacityType") == "SPOT":
            instance *= 1 - PRICES["spot_discount"]
        disk = group.get("diskSize", 50) * PRICES["gp3_gb_month"]
        # Throughput and IOPS above gp3's included 125 MiB/s and 3,000, as the recorded template asks.
        template = plan.one("aws:ec2/launchTemplate:LaunchTemplate", f"cluster-{name}-launch-template")
        ebs = template.inputs["blockDeviceMappings"][0]["ebs"]
        disk += (ebs["throughput"] - 125) * PRICES["gp3_mibps_month"] + (ebs["iops"] - 3000) * PRICES["gp3_iops_month"]
        assert per_hour[name] == pytest.approx(instance + disk / PRICES["hours_per_month"])


def test_standing_warm_seats_are_priced_by_the_nodes_they_hold_and_an_event_for_its_dates(prod: Plan) -> None:
    event = {"name": "tutorial", "profile": "workshop", "seats": 10, "start": "2027-01-11", "end": "2027-01-12"}
    plan = plan_with("prod", set_={"hub.warmSeats": {"base": 3, "tiny": 4}, "hub.events": [event]})
    estimate, groups = idle_cost(plan.config), plan.config.node_groups
    seats = {line.what: line.monthly for line in estimate.lines if line.what.startswith("warm seats")}
    hours = PRICES["hours_per_month"]
    # m6i.2xlarge and its like give pods under 8 CPU: one Base server (6 CPU) per node, all four Tiny on one.
    assert seats == {
        "warm seats: 3 base on user-small (x3 nodes)": pytest.approx(3 * estimate.per_node_hour["user-small"] * hours),
        "warm seats: 4 tiny on user-small (x1 nodes)": pytest.approx(estimate.per_node_hour["user-small"] * hours),
        f"warm seats of tutorial 2027-01-11..2027-01-12: x{-(-10 // 3)} nodes, "
        f"${4 * estimate.per_node_hour['workshop'] * 48:.0f} once": 0.0,
    }
    assert groups["workshop"].instance_types == ["m6i.2xlarge"]  # 8 vCPU: three 2-CPU workshop seats per node
    without = idle_cost(prod.config).monthly
    assert estimate.monthly - without == pytest.approx(4 * estimate.per_node_hour["user-small"] * hours)


def test_no_nat_cost_with_an_existing_vpc() -> None:
    existing = {
        "vpcId": "vpc-0123456789abcdef0",
        "publicSubnetIds": ["subnet-0aaaaaaa"],
        "privateSubnetIds": ["subnet-0ccccccc"],
    }
    estimate = idle_cost(plan_with("staging", set_={"network.existing": existing}).config)
    assert next(line for line in estimate.lines if line.what.startswith("NAT")).monthly == 0


def test_an_unpriced_instance_type_is_named() -> None:
    plan = plan_with("staging", set_={"nodeGroups.gpu.instanceTypes": ["g4dn.xlarge"], "hub.profiles": [TINY_PROFILE]})
    with pytest.raises(KeyError, match=r"no price for g4dn\.xlarge"):
        idle_cost(plan.config)


def test_the_table_is_dated_and_regional() -> None:
    assert PRICES["region"] == "us-east-2"
    assert PRICES["as_of"].startswith("20")


def test_a_faster_core_disk_is_in_the_idle_cost(prod: Plan) -> None:
    """Throughput above gp3's included 125 MiB/s is billed per MiB/s-month, on every always-on node."""
    base = idle_cost(prod.config)
    faster = idle_cost(plan_with("prod", set_={"nodeGroups.core.diskThroughput": 250}).config)
    extra = 2 * (250 - 125) * PRICES["gp3_mibps_month"]  # two core nodes
    assert faster.monthly == pytest.approx(base.monthly + extra)
