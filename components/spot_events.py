"""The region's spot interruption warnings, counted and kept: an EventBridge rule (its TriggeredRules metric is
the count Alerts alarms on) delivering each warning to a log group, so the runbook can say which instances
went."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from components.service_policies import services_may

# Days the log group keeps each warning (the runbook's "Spot interruptions" reads them).
SPOT_EVENTS_RETENTION_DAYS = 90


def spot_interruption_rule(name: str, rule_name: str, parent: pulumi.Resource) -> aws.cloudwatch.EventRule:
    """EventBridge counts the region's spot interruption warnings (their events carry only the instance id,
    so the count is this account's and region's, staging's and prod's alike) as the rule's TriggeredRules.
    The rule delivers each warning to a log group, so the runbook can say which instances went, and the rule
    has a target to run (the metric counts rules that ran). Its resources are `parent`'s children."""
    child = pulumi.ResourceOptions(parent=parent)
    rule = aws.cloudwatch.EventRule(
        f"{name}-spot-interruptions",
        name=rule_name,
        event_pattern=json.dumps({"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]}),
        opts=child,
    )
    log_group = aws.cloudwatch.LogGroup(
        f"{name}-spot-interruption-events",
        name=f"/aws/events/{rule_name}",
        retention_in_days=SPOT_EVENTS_RETENTION_DAYS,
        opts=child,
    )
    # EventBridge writes to a log group under the group's resource policy (one of the region's ten).
    policy = aws.cloudwatch.LogResourcePolicy(
        f"{name}-spot-interruption-events",
        policy_name=rule_name,
        policy_document=log_group.arn.apply(
            lambda arn: services_may(
                "EventBridgeWrites",
                ["events.amazonaws.com", "delivery.logs.amazonaws.com"],
                ["logs:CreateLogStream", "logs:PutLogEvents"],
                f"{arn}:*",
            )
        ),
        opts=child,
    )
    aws.cloudwatch.EventTarget(
        f"{name}-spot-interruptions",
        rule=rule.name,
        arn=log_group.arn,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[policy]),
    )
    return rule
