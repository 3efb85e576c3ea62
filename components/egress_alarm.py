"""An alarm on the bytes the stack's NAT carries in a day: surprise traffic (a user pulling terabytes from
outside the region, a runaway download loop) shows the day it starts, not on the month's bill.

In-region S3 (the archive, ECR's layers) takes the S3 gateway endpoint and never reaches NAT, so what the
alarm counts is traffic to and from outside the region. A NAT gateway reports what it sends both ways:
`BytesOutToDestination` (to the internet) and `BytesOutToSource` (back to the pods): their sum is what it
processes and bills per GB. A NAT instance forwards the same bytes, and its EC2 `NetworkOut` counts them.
One alarm per stack sums every NAT (VPC User Guide, "Monitor NAT gateways with CloudWatch"; EC2 User Guide,
instance metrics).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# Where the runbook starts for this alarm.
RUNBOOK = "docs/operations.md, section 9 (Where the cost goes), 'NAT egress'"
DAY_SECONDS = 86400


@dataclass(frozen=True)
class NatEgressAlarmArgs:
    stack: str
    daily_gb: int
    topic_arn: pulumi.Input[str]
    nat_gateway_ids: Sequence[pulumi.Input[str]]
    nat_instance_id: pulumi.Input[str] | None


def egress_metrics(args: NatEgressAlarmArgs) -> list[tuple[str, str, dict[str, pulumi.Input[str]]]]:
    """(namespace, metric, dimensions) of every count of bytes leaving the stack's NAT."""
    found: list[tuple[str, str, dict[str, pulumi.Input[str]]]] = [
        ("AWS/NATGateway", metric, {"NatGatewayId": nat})
        for nat in args.nat_gateway_ids
        for metric in ("BytesOutToDestination", "BytesOutToSource")
    ]
    if args.nat_instance_id is not None:
        found.append(("AWS/EC2", "NetworkOut", {"InstanceId": args.nat_instance_id}))
    return found


class NatEgressAlarm(pulumi.ComponentResource):
    """One metric-math alarm: the day's bytes through every NAT of the stack, over `dailyGb`."""

    def __init__(self, name: str, args: NatEgressAlarmArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("dandihub:alerts:NatEgressAlarm", name, None, opts)
        metrics = egress_metrics(args)
        ids = [f"m{i}" for i in range(len(metrics))]
        queries = [
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id=query_id,
                metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                    namespace=namespace, metric_name=metric, dimensions=dimensions, period=DAY_SECONDS, stat="Sum"
                ),
            )
            for query_id, (namespace, metric, dimensions) in zip(ids, metrics, strict=True)
        ]
        total = aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id="nat_bytes",
            expression=f"SUM([{', '.join(ids)}])",
            label="bytes through NAT in a day",
            return_data=True,
        )
        alarm_name = f"dandihub-{args.stack}-nat-egress"
        self.alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-nat-egress",
            name=alarm_name,
            alarm_description=f"dandihub {args.stack}: more than {args.daily_gb} GB went through NAT in a day "
            "(traffic to or from outside the region: in-region S3 takes the gateway endpoint). First: which "
            f"node and pod (Grafana 'Cluster Information', network), then who. Runbook: {RUNBOOK}.",
            metric_queries=[*queries, total],
            evaluation_periods=1,
            comparison_operator="GreaterThanThreshold",
            threshold=args.daily_gb * 1e9,
            treat_missing_data="notBreaching",
            alarm_actions=[args.topic_arn],
            ok_actions=[args.topic_arn],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.metric_count = len(metrics)
        self.register_outputs({"alarm_name": alarm_name})
