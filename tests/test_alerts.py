"""Alerts outside the cluster: thresholds per stack, one topic per region mailing every recipient, and
every alarm naming its stack and a runbook section that exists."""

from __future__ import annotations

import re

from offline.engine import Plan
from tests.conftest import ROOT, in_component, plan_with

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def alarms(plan: Plan) -> dict[str, dict]:
    """The alerting alarms (a NAT instance has its own recovery alarms, which mail nobody)."""
    return {r.inputs["name"]: r.inputs for r in in_component(plan, "dandihub:alerts:Alerts") if r.type == ALARM}


def test_alarms_and_thresholds_per_stack(plan: Plan) -> None:
    config, stack = plan.config, plan.stack
    found = alarms(plan)
    user_groups = [n for n, g in config.node_groups.items() if g.role != "core"]
    assert set(found) == {f"dandihub-{stack}-{key}" for key in ("hub-down", "home-size", "spot-interruptions")} | {
        f"dandihub-{stack}-{g}-at-capacity" for g in user_groups
    }
    alerts = config.monitoring.alerts
    hub_down = found[f"dandihub-{stack}-hub-down"]
    assert (hub_down["namespace"], hub_down["metricName"], hub_down["region"]) == (
        "AWS/Route53", "HealthCheckStatus", "us-east-1"
    )  # fmt: skip
    assert hub_down["evaluationPeriods"] * hub_down["period"] == alerts.hub_down_minutes * 60
    assert hub_down["treatMissingData"] == "breaching"
    home = found[f"dandihub-{stack}-home-size"]
    assert home["threshold"] == alerts.home_size_gib * 1024**3
    assert home["dimensions"]["FileSystemId"] == plan.outputs["efsFileSystemId"]
    for group in user_groups:
        at_max = found[f"dandihub-{stack}-{group}-at-capacity"]
        assert at_max["threshold"] == config.node_groups[group].max_size
        assert at_max["evaluationPeriods"] * at_max["period"] == alerts.at_max_minutes * 60
    assert found[f"dandihub-{stack}-spot-interruptions"]["threshold"] == alerts.spot_interruptions_per_hour


def test_the_stacks_thresholds_come_from_their_files(staging: Plan, prod: Plan) -> None:
    assert (staging.config.monitoring.alerts.monthly_budget_usd, prod.config.monitoring.alerts.monthly_budget_usd) == (
        300, 1500
    )  # fmt: skip
    budgets = {p.stack: p.one("aws:budgets/budget:Budget").inputs for p in (staging, prod)}
    assert budgets["prod"]["limitAmount"] == "1500"
    assert budgets["staging"]["costFilters"] == [{"name": "TagKeyValue", "values": ["user:Stack$staging"]}]
    assert {n["notificationType"] for n in budgets["staging"]["notifications"]} == {"ACTUAL", "FORECASTED"}


def test_every_alarm_names_its_stack_and_an_existing_runbook_section(plan: Plan) -> None:
    runbook = (ROOT / "docs" / "operations.md").read_text()
    assert "## 11. Alerts, and where to look" in runbook
    for name, alarm in alarms(plan).items():
        description = alarm["alarmDescription"]
        assert description.startswith(f"dandihub {plan.stack}: "), name
        (section,) = re.findall(r"section '([^']+)'", description)
        assert f"**{section}**" in runbook, (name, section)
        assert alarm["alarmActions"] == alarm["okActions"]


def test_each_recipient_is_subscribed_in_both_regions() -> None:
    emails = ["ops@dandiarchive.org", "satra@example.org"]
    plan = plan_with("staging", set_={"monitoring.alerts.emails": emails})
    subscriptions = [r.inputs for r in plan.of_type("aws:sns/topicSubscription:TopicSubscription")]
    assert sorted((s["endpoint"], s["region"]) for s in subscriptions) == sorted(
        (e, region) for e in emails for region in ("us-east-1", "us-east-2")
    )
    assert all(s["protocol"] == "email" for s in subscriptions)
    health = plan.one("aws:route53/healthCheck:HealthCheck").inputs
    assert (health["type"], health["fqdn"], health["resourcePath"], health["port"]) == (
        "HTTPS", "hub-staging.dandiarchive.org", "/hub/health", 443
    )  # fmt: skip


def test_group_metrics_are_enabled_for_every_alarmed_group(plan: Plan) -> None:
    commands = [r.inputs["create"] for r in plan.of_type("command:local:Command")]
    groups = [n for n, g in plan.config.node_groups.items() if g.role != "core"]
    assert len(commands) == len(groups)
    assert all("aws autoscaling enable-metrics-collection" in c and "GroupInServiceInstances" in c for c in commands)


def test_the_health_check_starts_after_the_hub_and_its_dns_record() -> None:
    """Made minutes into a first `up`, it would fail (and alarm) until DNS pointed at the new hub."""
    plan = plan_with("prod", set_={"hub.route53ZoneId": "Z0123456789ABCDEFGHIJ"})
    check = plan.one("aws:route53/healthCheck:HealthCheck")
    record = plan.one("aws:route53/record:Record")
    release = plan.one("kubernetes:helm.sh/v3:Release", "hub-release")
    assert {record.urn, release.urn} <= set(check.dependencies)


def test_the_budget_mails_on_the_actual_bill_as_well_as_the_forecast(plan: Plan) -> None:
    """AWS needs weeks of history to forecast; ACTUAL is what fires in a new account's first month."""
    budget = plan.one("aws:budgets/budget:Budget")
    kinds = {n["notificationType"]: n["threshold"] for n in budget.inputs["notifications"]}
    assert kinds == {"ACTUAL": 100, "FORECASTED": 100}
