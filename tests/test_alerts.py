"""Alerts outside the cluster: thresholds per stack, one topic per region mailing every recipient, and
every alarm naming its stack and a runbook section that exists."""

from __future__ import annotations

import gzip
import json
import os
import re
import tarfile
from functools import cache
from pathlib import Path

import pytest

from components.alerts import METRIC_DOCS
from offline.engine import Plan
from tests.conftest import ROOT, in_component, plan_with

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
# AWS's catalogue of CloudWatch metrics and the dimension sets each is published with: the npm package
# @aws-cdk/aws-service-spec (imported from the CloudWatch console's service directory; aws-cdk generates
# its canned metrics from it). .ci/run fetches it with `npm pack`.
SERVICE_SPEC_VERSION = "0.1.216"
SERVICE_SPEC = Path(
    os.environ.get("DANDIHUB_AWS_SERVICE_SPEC")
    or Path.home() / ".cache" / "dandihub" / f"aws-cdk-aws-service-spec-{SERVICE_SPEC_VERSION}.tgz"
)


@cache
def published_metrics() -> dict[tuple[str, str], list[set[str]]]:
    """(namespace, metric) -> the dimension-name sets AWS publishes it with."""
    if not SERVICE_SPEC.exists():
        pytest.skip(
            f"{SERVICE_SPEC} is missing: `npm pack @aws-cdk/aws-service-spec@{SERVICE_SPEC_VERSION}` there "
            "(.ci/run does)"
        )
    with tarfile.open(SERVICE_SPEC) as archive:
        member = archive.extractfile("package/db.json.gz")
        assert member is not None
        schema = json.loads(gzip.decompress(member.read()))["schema"]
    sets = {d["$id"]: {x["name"] for x in d["dimensions"]} for d in schema["dimensionSet"]["entities"]}
    uses = schema["usesDimensionSet"]["forward"]
    found: dict[tuple[str, str], list[set[str]]] = {}
    for metric in schema["metric"]["entities"]:
        key = (metric["namespace"], metric["name"])
        found.setdefault(key, []).extend(sets[ref["$id"]] for ref in uses.get(metric["$id"], []))
    return found


def alarms(plan: Plan) -> dict[str, dict]:
    """The alerting alarms (a NAT instance has its own recovery alarms, which mail nobody)."""
    return {r.inputs["name"]: r.inputs for r in in_component(plan, "dandihub:alerts:Alerts") if r.type == ALARM}


def test_alarms_and_thresholds_per_stack(plan: Plan) -> None:
    config, stack = plan.config, plan.stack
    found = alarms(plan)
    user_groups = [n for n, g in config.node_groups.items() if g.role != "core"]
    always = ("hub-down", "home-size", "home-throughput", "home-io-limit", "spot-interruptions")
    assert set(found) == {f"dandihub-{stack}-{key}" for key in always} | {
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
    for key in ("home-throughput", "home-io-limit"):
        saturation = found[f"dandihub-{stack}-{key}"]
        assert (saturation["threshold"], saturation["evaluationPeriods"]) == (80, 15)
    io_limit = found[f"dandihub-{stack}-home-io-limit"]
    assert (io_limit["metricName"], io_limit["dimensions"]) == (
        "PercentIOLimit", {"FileSystemId": plan.outputs["efsFileSystemId"]}
    )  # fmt: skip
    for group in user_groups:
        at_max = found[f"dandihub-{stack}-{group}-at-capacity"]
        assert at_max["threshold"] == config.node_groups[group].max_size
        assert at_max["evaluationPeriods"] * at_max["period"] == alerts.at_max_minutes * 60
        assert at_max["treatMissingData"] == "breaching", "a group that publishes nothing must not stay quiet"
    spot = found[f"dandihub-{stack}-spot-interruptions"]
    assert spot["threshold"] == alerts.spot_interruptions_per_hour
    assert (spot["namespace"], spot["metricName"], spot["statistic"]) == ("AWS/Events", "TriggeredRules", "Sum")


def watched(alarm: dict) -> list[tuple[tuple[str, str], dict]]:
    """Each metric an alarm reads, with its dimensions: its own, or each of its metric-math queries'."""
    queries = [q["metric"] for q in alarm.get("metricQueries", []) if "metric" in q]
    return [((m["namespace"], m["metricName"]), m["dimensions"]) for m in queries] or [
        ((alarm["namespace"], alarm["metricName"]), alarm["dimensions"])
    ]


def test_every_alarm_watches_a_metric_aws_publishes_with_those_dimensions(plan: Plan) -> None:
    published = published_metrics()
    for name, alarm in alarms(plan).items():
        for key, dimensions in watched(alarm):
            assert key in published, (name, key)
            assert set(dimensions) in published[key], (name, key, published[key])
            assert METRIC_DOCS[key].startswith("https://docs.aws.amazon.com/"), name


def test_the_metric_catalogue_check_has_teeth() -> None:
    published = published_metrics()
    # What the spot alarm watched before: EventBridge publishes no per-rule MatchedEvents.
    assert {"RuleName"} not in published.get(("AWS/Events", "MatchedEvents"), [])
    assert {"RuleName"} in published[("AWS/Events", "TriggeredRules")]
    assert {"FileSystemId"} not in published[("AWS/EFS", "StorageBytes")], "StorageClass is required"


def test_the_spot_rule_delivers_its_warnings_to_a_log_group_eventbridge_may_write(plan: Plan) -> None:
    rule = plan.one("aws:cloudwatch/eventRule:EventRule").inputs
    (target,) = [r.inputs for r in plan.of_type("aws:cloudwatch/eventTarget:EventTarget")]
    assert target["rule"] == rule["name"]
    (group,) = [
        r for r in plan.of_type("aws:cloudwatch/logGroup:LogGroup") if r.inputs["name"] == f"/aws/events/{rule['name']}"
    ]
    assert target["arn"].endswith(f":{group.name}"), "the fake cloud names an ARN after its resource"
    policy = json.loads(plan.one("aws:cloudwatch/logResourcePolicy:LogResourcePolicy").inputs["policyDocument"])
    (statement,) = policy["Statement"]
    assert "events.amazonaws.com" in statement["Principal"]["Service"]
    assert set(statement["Action"]) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert statement["Resource"] == f"{target['arn']}:*"


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


def test_the_throughput_alarm_divides_metered_bytes_per_second_by_the_permitted_throughput(staging: Plan) -> None:
    """AWS's throughput-utilization metric math (EFS user guide, 'Monitoring throughput'): the metered bytes of
    a minute per second, as a percentage of PermittedThroughput (the write maximum with elastic throughput)."""
    alarm = alarms(staging)["dandihub-staging-home-throughput"]
    queries = {q["id"]: q for q in alarm["metricQueries"]}
    assert queries["utilization"]["expression"] == "100 * (metered / PERIOD(metered)) / permitted"
    assert [q["id"] for q in alarm["metricQueries"] if q.get("returnData")] == ["utilization"]
    fs = {"FileSystemId": staging.outputs["efsFileSystemId"]}
    assert {k: (q["metric"]["metricName"], q["metric"]["stat"], q["metric"]["dimensions"]) for k, q in queries.items()
            if "metric" in q} == {"metered": ("MeteredIOBytes", "Sum", fs),
                                  "permitted": ("PermittedThroughput", "Average", fs)}  # fmt: skip
