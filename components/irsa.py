"""IAM roles for Kubernetes service accounts (IRSA), trusted only by the named service accounts, and the
EKS add-ons that run with such a role."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws


def service_account_trust(
    oidc_provider_arn: pulumi.Input[str],
    oidc_issuer: pulumi.Input[str],
    namespace: str,
    service_accounts: Sequence[str],
) -> pulumi.Output[str]:
    """A trust policy that lets exactly these service accounts assume the role, through the cluster's OIDC issuer."""

    def document(args: list[str]) -> str:
        provider_arn, issuer = args
        subjects = [f"system:serviceaccount:{namespace}:{sa}" for sa in service_accounts]
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Federated": provider_arn},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {
                            "StringEquals": {
                                f"{issuer}:sub": subjects[0] if len(subjects) == 1 else subjects,
                                f"{issuer}:aud": "sts.amazonaws.com",
                            }
                        },
                    }
                ],
            }
        )

    return pulumi.Output.all(oidc_provider_arn, oidc_issuer).apply(document)


def service_account_role(
    name: str,
    *,
    oidc_provider_arn: pulumi.Input[str],
    oidc_issuer: pulumi.Input[str],
    namespace: str,
    service_accounts: Sequence[str],
    policy_arns: dict[str, pulumi.Input[str]],
    parent: pulumi.Resource,
) -> aws.iam.Role:
    """An IRSA role with policies attached, keyed by a stable short name each."""
    role = aws.iam.Role(
        f"{name}-role",
        assume_role_policy=service_account_trust(oidc_provider_arn, oidc_issuer, namespace, service_accounts),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    for key, policy_arn in policy_arns.items():
        aws.iam.RolePolicyAttachment(
            f"{name}-{key}",
            role=role.name,
            policy_arn=policy_arn,
            opts=pulumi.ResourceOptions(parent=role),
        )
    return role


def addon_with_role(
    name: str,
    *,
    cluster_name: str,
    addon_name: str,
    addon_version: str,
    oidc_provider_arn: pulumi.Input[str],
    oidc_issuer: pulumi.Input[str],
    service_accounts: Sequence[str],
    policy_arn: str,
    nodes: Sequence[pulumi.Resource],
    parent: pulumi.Resource,
    namespace: str = "kube-system",
    configuration: dict | None = None,
) -> aws.eks.Addon:
    """An EKS managed add-on whose service accounts (in `namespace`) get their own IRSA role."""
    role = service_account_role(
        name,
        oidc_provider_arn=oidc_provider_arn,
        oidc_issuer=oidc_issuer,
        namespace=namespace,
        service_accounts=service_accounts,
        policy_arns={"policy": policy_arn},
        parent=parent,
    )
    return aws.eks.Addon(
        name,
        cluster_name=cluster_name,
        addon_name=addon_name,
        # Pinned per Kubernetes minor (stackconfig/kubernetes_versions.yaml): a cluster upgrade upgrades it.
        addon_version=addon_version,
        service_account_role_arn=role.arn,
        configuration_values=json.dumps(configuration) if configuration else None,
        resolve_conflicts_on_create="OVERWRITE",
        resolve_conflicts_on_update="OVERWRITE",
        # An add-on only becomes active once nodes can run it.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(nodes)),
    )
