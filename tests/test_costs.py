"""The idle-cost estimate follows from the price table and the stack config."""

from __future__ import annotations

import pytest

from offline.costs import idle_cost, load_prices
from offline.engine import Plan
from tests.conftest import plan_with, stack_config

PRICES = load_prices()


def expected_monthly(plan: Plan) -> float:
    """Worked out from the raw stack file, independently of the estimate's code."""
    config = stack_config(plan)
    network, groups = config["dandihub:network"], config["dandihub:nodeGroups"]
    nats = network["azCount"] if network["natGateways"] == "perAz" else 1
    core = groups["core"]
    core_nodes = core["minSize"] * core.get("zones", 1)
    core_hour = max(PRICES["on_demand_hour"][t] for t in core["instanceTypes"])
    hourly = (
        PRICES["eks_control_plane_hour"]
        + nats * (PRICES["nat_gateway_hour"] + PRICES["public_ipv4_hour"])
        + core_nodes * core_hour
        + PRICES["classic_load_balancer_hour"]
    )
    disks = core_nodes * core.get("diskSize", 50) + 1
    return (
        hourly * PRICES["hours_per_month"]
        + disks * PRICES["gp3_gb_month"]
        + PRICES["efs_minimum_month"]
        + monitoring_monthly(plan)
    )


def monitoring_monthly(plan: Plan) -> float:
    """Monitoring's idle cost counted from the recorded resources: the Prometheus volume its release asks
    for, each health check and alarm, and the estimated log volume into the groups it keeps."""
    prometheus = [r for r in plan.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "prometheus"]
    gib = sum(int(r.inputs["values"]["server"]["persistentVolume"]["size"].removesuffix("Gi")) for r in prometheus)
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
        + len(plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")) * PRICES["cloudwatch_alarm_month"]
        + gb * (PRICES["logs_ingest_gb"] + PRICES["logs_storage_gb_month"] * days / 30)
    )


def test_idle_cost_sums_follow_from_the_table(plan: Plan) -> None:
    estimate = idle_cost(plan.config)
    assert estimate.monthly == pytest.approx(expected_monthly(plan))


def test_known_totals(staging: Plan, prod: Plan) -> None:
    # staging: 730 h x (0.10 EKS + 0.05 NAT+IP + 0.0752 t3a.large + 0.025 ELB) + 51 GiB gp3 x 0.08
    # + monitoring: 20 GiB gp3 (1.60), 3 GB of logs kept 30 days (1.59), health check (1.50), 6 alarms (0.60)
    assert idle_cost(staging.config).monthly == pytest.approx(186.726 + 1.60 + 1.59 + 1.50 + 0.60)
    assert idle_cost(prod.config).monthly > idle_cost(staging.config).monthly


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
        disk = group.get("diskSize", 50) * PRICES["gp3_gb_month"] / PRICES["hours_per_month"]
        assert per_hour[name] == pytest.approx(instance + disk)


def test_no_nat_cost_with_an_existing_vpc() -> None:
    existing = {
        "vpcId": "vpc-0123456789abcdef0",
        "publicSubnetIds": ["subnet-0aaaaaaa"],
        "privateSubnetIds": ["subnet-0ccccccc"],
    }
    estimate = idle_cost(plan_with("staging", set_={"network.existing": existing}).config)
    assert next(line for line in estimate.lines if line.what.startswith("NAT")).monthly == 0


TINY = {
    "slug": "tiny",
    "displayName": "Tiny",
    "nodeGroup": "user-small",
    "cpu": {"guarantee": 0.5, "limit": 1},
    "memory": {"guarantee": "1G", "limit": "2G"},
    "images": ["standard"],
}


def test_an_unpriced_instance_type_is_named() -> None:
    plan = plan_with("staging", set_={"nodeGroups.gpu.instanceTypes": ["g4dn.xlarge"], "hub.profiles": [TINY]})
    with pytest.raises(KeyError, match=r"no price for g4dn\.xlarge"):
        idle_cost(plan.config)


def test_the_table_is_dated_and_regional() -> None:
    assert PRICES["region"] == "us-east-2"
    assert PRICES["as_of"].startswith("20")
