"""Alerts that do not depend on the cluster: an SNS topic mailing the team, and CloudWatch alarms and a
budget on it for a hub that does not answer, a home file system past its size, a user group stuck at its
maximum, a month forecast over budget, and a burst of spot interruptions. Each alarm names the stack and
says where the runbook starts (docs/operations.md, Alerts)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_command as command

from components.node_groups import PlacedGroup
from components.service_policies import services_may
from components.spot_events import spot_interruption_rule
from stackconfig.monitoring import AlertsConfig

# Route 53 publishes health-check metrics in us-east-1 only, so that alarm and its topic live there.
HEALTH_CHECK_REGION = "us-east-1"
RUNBOOK = "docs/operations.md, section 11 (Alerts)"
# The AWS page that defines each alarm's metric and its dimensions. `_alarm` refuses a metric not listed
# here; the tests check every alarm's namespace, metric and dimension names against AWS's metric catalogue.
METRIC_DOCS = {
    ("AWS/Route53", "HealthCheckStatus"):
        "https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/monitoring-health-check-metrics.html",
    ("AWS/EFS", "StorageBytes"): "https://docs.aws.amazon.com/efs/latest/ug/efs-metrics.html",
    ("AWS/EFS", "MeteredIOBytes"): "https://docs.aws.amazon.com/efs/latest/ug/efs-metrics.html",
    ("AWS/EFS", "PermittedThroughput"): "https://docs.aws.amazon.com/efs/latest/ug/efs-metrics.html",
    ("AWS/EFS", "PercentIOLimit"): "https://docs.aws.amazon.com/efs/latest/ug/efs-metrics.html",
    ("AWS/AutoScaling", "GroupInServiceInstances"):
        "https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-metrics.html",
    # MatchedEvents has no RuleName dimension; TriggeredRules does.
    ("AWS/Events", "TriggeredRules"): "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-monitoring.html",
}  # fmt: skip
# The home file system near its limits: this share of its permitted throughput, or of the General Purpose
# I/O limit, for this many minutes. Only CloudWatch knows the limits (Prometheus sees the NFS clients only).
EFS_SATURATION_PERCENT = 80
EFS_SATURATION_MINUTES = 15


@dataclass(frozen=True)
class AlertsArgs:
    """Who is told, and what to watch: the hub's domain, the home file system, the user groups' ASGs."""

    config: AlertsConfig
    stack: str
    region: str
    cluster_name: str
    domain: str
    file_system_id: pulumi.Input[str]
    node_groups: Sequence[PlacedGroup]
    asg_names: Mapping[str, pulumi.Input[str]]


class Alerts(pulumi.ComponentResource):
    """SNS topics with e-mail subscriptions, the alarms on them, and the budget."""

    topic_arn: pulumi.Output[str]
    alarm_names: list[str]

    def __init__(self, name: str, args: AlertsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("dandihub:alerts:Alerts", name, None, opts)
        self._args = args
        self._name = name
        self.alarm_names = []
        prefix = f"dandihub-{args.stack}"
        topic = self._topic(f"{name}-topic", f"{prefix}-alerts", args.region)
        self._health_topic = self._topic(f"{name}-topic-health", f"{prefix}-alerts-health", HEALTH_CHECK_REGION)
        config = args.config

        self._alarm(
            "home-size",
            f"the home file system holds more than {config.home_size_gib} GiB. First: the usage report and the "
            "largest homes (section 'Storage growth')",
            topic,
            namespace="AWS/EFS",
            metric_name="StorageBytes",
            dimensions={"FileSystemId": args.file_system_id, "StorageClass": "Total"},
            statistic="Average",
            period=3600,
            evaluation_periods=1,
            comparison_operator="GreaterThanThreshold",
            threshold=config.home_size_gib * 1024**3,
            treat_missing_data="notBreaching",
        )
        self._efs_saturation(topic)
        for placed in args.node_groups:
            if placed.config.role != "core":
                self._at_capacity(placed, topic)
        self._budget(topic, prefix)
        self._spot_interruptions(topic, prefix)
        self.topic_arn = topic.arn
        self.register_outputs({"topic_arn": self.topic_arn, "alarm_names": self.alarm_names})

    def watch_hub(self, hub_ready: Sequence[pulumi.Resource]) -> None:
        """The hub's health check and its alarm, made after `hub_ready` (the hub and its DNS record): made
        minutes into a first `up`, they would fail (and alarm) until DNS points at the new hub, or watch the
        old hub during a migration."""
        args, config, prefix, name = self._args, self._args.config, f"dandihub-{self._args.stack}", self._name
        health_topic = self._health_topic
        health_check = aws.route53.HealthCheck(
            f"{name}-hub-health",
            type="HTTPS",
            fqdn=args.domain,
            port=443,
            resource_path="/hub/health",
            request_interval=30,
            failure_threshold=3,
            tags={"Name": f"{prefix}-hub"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(hub_ready)),
        )
        self._alarm(
            "hub-down",
            f"the hub at https://{args.domain}/hub/health has failed its health checks for {config.hub_down_minutes} "
            "minutes. First: is the load balancer answering, is the hub pod running (section 'Hub down')",
            health_topic,
            region=HEALTH_CHECK_REGION,
            namespace="AWS/Route53",
            metric_name="HealthCheckStatus",
            dimensions={"HealthCheckId": health_check.id},
            statistic="Minimum",
            period=60,
            evaluation_periods=config.hub_down_minutes,
            comparison_operator="LessThanThreshold",
            threshold=1,
            treat_missing_data="breaching",
        )

    def _topic(self, resource: str, topic_name: str, region: str) -> aws.sns.Topic:
        topic = aws.sns.Topic(resource, name=topic_name, region=region, opts=pulumi.ResourceOptions(parent=self))
        for email in self._args.config.emails:
            aws.sns.TopicSubscription(
                # Keyed by the address, not its place in the list.
                f"{resource}-{re.sub(r'[^a-z0-9]+', '-', email.lower())}",
                topic=topic.arn,
                protocol="email",
                endpoint=email,
                region=region,
                opts=pulumi.ResourceOptions(parent=topic),
            )
        # The budget and EventBridge publish to the topic as AWS services.
        aws.sns.TopicPolicy(
            f"{resource}-policy",
            arn=topic.arn,
            region=region,
            policy=topic.arn.apply(
                lambda arn: services_may(
                    "AwsServicesPublish", ["budgets.amazonaws.com", "cloudwatch.amazonaws.com"], "SNS:Publish", arn
                )
            ),
            opts=pulumi.ResourceOptions(parent=topic),
        )
        return topic

    def _alarm(self, key: str, what: str, topic: aws.sns.Topic, region: str | None = None, **metric: object) -> None:
        queries = metric.get("metric_queries") or []
        named = [(q.metric.namespace, q.metric.metric_name) for q in queries if q.metric]  # type: ignore[attr-defined]
        for namespace, metric_name in named or [(metric["namespace"], metric["metric_name"])]:
            if (namespace, metric_name) not in METRIC_DOCS:
                raise KeyError(f"{namespace} {metric_name}: name its AWS page in METRIC_DOCS")
        alarm_name = f"dandihub-{self._args.stack}-{key}"
        aws.cloudwatch.MetricAlarm(
            f"{self._name}-{key}",
            name=alarm_name,
            alarm_description=f"dandihub {self._args.stack}: {what}. Runbook: {RUNBOOK}.",
            alarm_actions=[topic.arn],
            ok_actions=[topic.arn],
            region=region or self._args.region,
            opts=pulumi.ResourceOptions(parent=self),
            **metric,  # type: ignore[arg-type]
        )
        self.alarm_names.append(alarm_name)

    def _at_capacity(self, placed: PlacedGroup, topic: aws.sns.Topic) -> None:
        """Users wait for capacity when a group stays at its maximum. EKS-owned ASGs publish no group
        metrics until asked, and no Pulumi resource asks; the AWS CLI does, once per ASG. Once asked, the
        group publishes every minute, so missing data means the asking failed or was undone: that alarms
        too, or a group that never reports would stay quiet forever."""
        asg = self._args.asg_names[placed.key]
        command.local.Command(
            f"{self._name}-{placed.key}-group-metrics",
            create=pulumi.Output.concat(
                "aws autoscaling enable-metrics-collection --granularity 1Minute --metrics GroupInServiceInstances",
                " --region ",
                self._args.region,
                " --auto-scaling-group-name ",
                asg,
            ),
            triggers=[asg],
            opts=pulumi.ResourceOptions(parent=self),
        )
        minutes = self._args.config.at_max_minutes
        self._alarm(
            f"{placed.key}-at-capacity",
            f"node group {placed.key} has been at its maximum of {placed.config.max_size} nodes for {minutes} minutes; "
            "users may be waiting for servers, or the group publishes no metrics. First: raise maxSize or check spot "
            "capacity; if the alarm's reason says no datapoints were received, enable its group metrics (section "
            "'Full node group')",
            topic,
            namespace="AWS/AutoScaling",
            metric_name="GroupInServiceInstances",
            dimensions={"AutoScalingGroupName": asg},
            statistic="Minimum",
            period=60,
            evaluation_periods=minutes,
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=placed.config.max_size,
            treat_missing_data="breaching",
        )

    def _budget(self, topic: aws.sns.Topic, prefix: str) -> None:
        aws.budgets.Budget(
            f"{self._name}-budget",
            name=f"{prefix}-monthly",
            budget_type="COST",
            limit_amount=str(self._args.config.monthly_budget_usd),
            limit_unit="USD",
            time_unit="MONTHLY",
            # The program tags every resource with Stack (provider default tags); activate it as a cost
            # allocation tag once in the billing console (runbook).
            cost_filters=[
                aws.budgets.BudgetCostFilterArgs(name="TagKeyValue", values=[f"user:Stack${self._args.stack}"])
            ],
            # AWS forecasts only after some weeks of spending history, so a new account's first weeks would be
            # silent on FORECASTED alone; ACTUAL fires on the bill itself.
            notifications=[
                aws.budgets.BudgetNotificationArgs(
                    comparison_operator="GREATER_THAN",
                    threshold=100,
                    threshold_type="PERCENTAGE",
                    notification_type=kind,
                    subscriber_sns_topic_arns=[topic.arn],
                )
                for kind in ("ACTUAL", "FORECASTED")
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _spot_interruptions(self, topic: aws.sns.Topic, prefix: str) -> None:
        """The alarm on the rule that counts the region's spot interruption warnings (components/spot_events.py)."""
        rule = spot_interruption_rule(self._name, f"{prefix}-spot-interruptions", self)
        per_hour = self._args.config.spot_interruptions_per_hour
        self._alarm(
            "spot-interruptions",
            f"more than {per_hour} spot interruptions in an hour; users lose running kernels. First: spread the spot "
            "groups over more instance types, or move an event to the workshop group (section 'Spot interruptions')",
            topic,
            namespace="AWS/Events",
            metric_name="TriggeredRules",
            dimensions={"RuleName": rule.name},
            statistic="Sum",
            period=3600,
            evaluation_periods=1,
            comparison_operator="GreaterThanThreshold",
            threshold=per_hour,
            treat_missing_data="notBreaching",
        )

    def _efs_saturation(self, topic: aws.sns.Topic) -> None:
        """Throughput used against what EFS permits (AWS's 'throughput utilization' metric math: metered bytes
        per second over PermittedThroughput, which with elastic throughput is the write maximum), and
        PercentIOLimit, which EFS publishes for General Purpose file systems."""
        fs = {"FileSystemId": self._args.file_system_id}
        minutes = EFS_SATURATION_MINUTES

        def metric(name: str, stat: str) -> aws.cloudwatch.MetricAlarmMetricQueryMetricArgs:
            return aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                namespace="AWS/EFS", metric_name=name, dimensions=fs, stat=stat, period=60
            )

        self._alarm(
            "home-throughput",
            f"the home file system has used over {EFS_SATURATION_PERCENT}% of its permitted throughput for {minutes} "
            "minutes; every server's file access slows. First: who reads or writes most (section 'Home file system "
            "saturated')",
            topic,
            metric_queries=[
                aws.cloudwatch.MetricAlarmMetricQueryArgs(id="metered", metric=metric("MeteredIOBytes", "Sum")),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="permitted", metric=metric("PermittedThroughput", "Average")
                ),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="utilization",
                    expression="100 * (metered / PERIOD(metered)) / permitted",
                    label="Throughput utilization (%)",
                    return_data=True,
                ),
            ],
            evaluation_periods=minutes,
            comparison_operator="GreaterThanThreshold",
            threshold=EFS_SATURATION_PERCENT,
            treat_missing_data="notBreaching",
        )
        self._alarm(
            "home-io-limit",
            f"the home file system has been over {EFS_SATURATION_PERCENT}% of its I/O limit for {minutes} minutes; "
            "file operations queue. First: who does many small operations (section 'Home file system saturated')",
            topic,
            namespace="AWS/EFS",
            metric_name="PercentIOLimit",
            dimensions=fs,
            statistic="Average",
            period=60,
            evaluation_periods=minutes,
            comparison_operator="GreaterThanThreshold",
            threshold=EFS_SATURATION_PERCENT,
            treat_missing_data="notBreaching",
        )
