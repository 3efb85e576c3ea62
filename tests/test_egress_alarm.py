"""The NAT egress alarm: the day's bytes through every NAT of the stack, over the configured volume."""

from __future__ import annotations

import re

from offline.engine import Plan
from tests.conftest import ROOT, plan_with
from tests.stack_configs import EXISTING_VPC


def egress_alarm(plan: Plan) -> dict:
    return plan.one("aws:cloudwatch/metricAlarm:MetricAlarm", "egress-nat-egress").inputs


def counted(alarm: dict) -> set[tuple[str, str, tuple]]:
    """(namespace, metric, dimensions) the alarm's expression sums, each by the day."""
    queries = {q["id"]: q for q in alarm["metricQueries"]}
    (total,) = [q for q in queries.values() if q.get("returnData")]
    ids = re.fullmatch(r"SUM\(\[(.*)\]\)", total["expression"]).group(1).split(", ")  # type: ignore[union-attr]
    assert set(ids) == set(queries) - {total["id"]}, "every metric read is summed"
    metrics = [queries[i]["metric"] for i in ids]
    assert {(m["period"], m["stat"]) for m in metrics} == {(86400, "Sum")}
    return {(m["namespace"], m["metricName"], tuple(sorted(m["dimensions"].items()))) for m in metrics}


def test_prod_counts_what_every_nat_gateway_sends_both_ways(prod: Plan) -> None:
    alarm = egress_alarm(prod)
    nats = [n.id for n in prod.of_type("aws:ec2/natGateway:NatGateway")]
    assert len(nats) == 3
    assert counted(alarm) == {
        ("AWS/NATGateway", metric, (("NatGatewayId", nat),))
        for nat in nats
        for metric in ("BytesOutToDestination", "BytesOutToSource")
    }
    assert alarm["comparisonOperator"] == "GreaterThanThreshold" and alarm["evaluationPeriods"] == 1
    assert alarm["threshold"] == prod.config.monitoring.alerts.nat_egress_daily_gb * 1e9 == 100e9
    topic = prod.one("aws:sns/topic:Topic", "alerts-topic")
    assert alarm["alarmActions"] == alarm["okActions"] == [f"arn:aws:fake:us-east-2:123456789012:{topic.name}"]
    assert alarm["name"] == "dandihub-prod-nat-egress"


def test_staging_counts_what_its_nat_instance_forwards(staging: Plan) -> None:
    instance = staging.one("aws:ec2/instance:Instance", "network-nat-instance")
    assert counted(egress_alarm(staging)) == {("AWS/EC2", "NetworkOut", (("InstanceId", instance.id),))}


def test_the_daily_volume_is_configured_and_the_runbook_says_what_to_do() -> None:
    plan = plan_with("staging", set_={"monitoring.alerts.natEgressDailyGb": 20})
    alarm = egress_alarm(plan)
    assert alarm["threshold"] == 20e9 and "more than 20 GB went through NAT in a day" in alarm["alarmDescription"]
    runbook = (ROOT / "docs" / "operations.md").read_text()
    section = runbook.split("## 9. Where the cost goes")[1].split("## 10.")[0]
    assert "**NAT egress** (`dandihub-<stack>-nat-egress`)" in section
    assert "section 9 (Where the cost goes), 'NAT egress'" in alarm["alarmDescription"]


def test_an_existing_vpcs_nat_is_not_watched() -> None:
    plan = plan_with("staging", set_={"network.existing": EXISTING_VPC})
    assert [a for a in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if a.name == "egress-nat-egress"] == []
