"""Every container's logs in CloudWatch Logs: the three Container Insights log groups, kept for a set time, and
the CloudWatch Observability add-on running Fluent Bit only, under a service account of its own whose IAM role
may write to exactly those groups.

The add-on installs the amazon-cloudwatch-observability chart of its version (6.4.0 for v6.4.0-eksbuild.N;
aws-observability/helm-charts@93a934e8ccfa228fda6a5f653c3da59c5546afcf:charts/amazon-cloudwatch-observability).
With the CloudWatch agent off, that chart runs Fluent Bit under `agent.serviceAccount.name`, or the
namespace's `default` account when unset (templates/_helpers.tpl, cloudwatch-agent.serviceAccountName), and
creates no account for it: the account and its IRSA annotation are made here, before the add-on starts the
pods, so the pod identity webhook gives every Fluent Bit pod the role's credentials.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.irsa import service_account_role

ADDON = "amazon-cloudwatch-observability"
NAMESPACE = "amazon-cloudwatch"
FLUENT_BIT_ACCOUNT = "fluent-bit"
LOG_GROUP_KINDS = ("application", "dataplane", "host")
# What Fluent Bit's cloudwatch_logs output calls: with auto_create_group (the chart's setting) it asks once
# for the group, which exists, then creates its streams and writes.
LOG_ACTIONS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents")


def addon_configuration() -> dict[str, Any]:
    """The add-on's configurationValues (keys of the chart's values.yaml)."""
    return {
        "containerLogs": {"enabled": True},
        # Not the CloudWatch agent: its Container Insights metrics bill per metric (Prometheus has them) and
        # it asks 250m/128Mi of every node. Fluent Bit runs under the account below.
        "agent": {"enabled": False, "serviceAccount": {"name": FLUENT_BIT_ACCOUNT}},
        # The DCGM exporter (GPU nodes) and Neuron monitor (Inferentia/Trainium nodes) only feed the agent;
        # with it off nothing would read them, and no group runs Neuron instances.
        "dcgmExporter": {"enabled": False},
        "neuronMonitor": {"enabled": False},
        # Application Signals' auto-monitor would have the operator inject OpenTelemetry auto-instrumentation
        # into every Python workload, the hub and user servers included, sending to the agent that is off
        # (monitorAllServices defaults to true in this region: templates/_helpers.tpl, manager.monitorAllServices).
        "manager": {"applicationSignals": {"autoMonitor": {"monitorAllServices": False}}},
    }


def log_write_policy(group_arns: Sequence[pulumi.Output[str]]) -> pulumi.Output[str]:
    """Fluent Bit's actions on the three groups and their streams, nothing else."""

    def document(arns: list[str]) -> str:
        resources = [r for arn in arns for r in (arn, f"{arn}:log-stream:*")]
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": list(LOG_ACTIONS), "Resource": resources}],
            }
        )

    return pulumi.Output.all(*group_arns).apply(document)


def container_logs(
    name: str,
    *,
    cluster_name: str,
    addon_version: str,
    retention_days: int,
    oidc_provider_arn: pulumi.Input[str],
    oidc_issuer: pulumi.Input[str],
    nodes: Sequence[pulumi.Resource],
    parent: pulumi.Resource,
) -> aws.eks.Addon:
    """The log groups, Fluent Bit's identity and the add-on, children of `parent`."""
    child = pulumi.ResourceOptions(parent=parent)
    groups = [
        aws.cloudwatch.LogGroup(
            f"{name}-logs-{kind}",
            name=f"/aws/containerinsights/{cluster_name}/{kind}",
            retention_in_days=retention_days,
            opts=child,
        )
        for kind in LOG_GROUP_KINDS
    ]
    role = service_account_role(
        f"{name}-fluent-bit",
        oidc_provider_arn=oidc_provider_arn,
        oidc_issuer=oidc_issuer,
        namespace=NAMESPACE,
        service_accounts=[FLUENT_BIT_ACCOUNT],
        policy_arns={},
        parent=parent,
    )
    aws.iam.RolePolicy(
        f"{name}-fluent-bit-logs",
        role=role.id,
        policy=log_write_policy([g.arn for g in groups]),
        opts=pulumi.ResourceOptions(parent=role),
    )
    namespace = k8s.core.v1.Namespace(
        f"{name}-logs-namespace", metadata=k8s.meta.v1.ObjectMetaArgs(name=NAMESPACE), opts=child
    )
    account = k8s.core.v1.ServiceAccount(
        f"{name}-fluent-bit",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=FLUENT_BIT_ACCOUNT, namespace=NAMESPACE, annotations={"eks.amazonaws.com/role-arn": role.arn}
        ),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[namespace]),
    )
    return aws.eks.Addon(
        f"{name}-cloudwatch",
        cluster_name=cluster_name,
        addon_name=ADDON,
        addon_version=addon_version,
        configuration_values=json.dumps(addon_configuration()),
        resolve_conflicts_on_create="OVERWRITE",
        resolve_conflicts_on_update="OVERWRITE",
        # Nodes to run on, groups to write to, and the account (with its role) before the first pod.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[*nodes, *groups, account]),
    )
