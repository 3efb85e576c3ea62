"""The `dandihub:cluster` and `dandihub:autoscaler` sections: the EKS cluster, who may administer it,
and the cluster autoscaler."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from stackconfig import aws_catalog, kubernetes
from stackconfig.types import Cidr, ConfigModel, LogType, SupportType, unique

_PRINCIPAL = re.compile(r"^arn:aws:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")
# What `aws sts get-caller-identity` prints for a role session (SSO included): a session, not an identity.
_ASSUMED_ROLE = re.compile(r"^arn:aws:sts::(\d{12}):assumed-role/([\w+=,.@-]+)/[\w+=,.@-]+$")


def _principal_arns(values: list[str]) -> None:
    """IAM role or user ARNs; an assumed-role session is refused with the role ARN to use instead."""
    problems = []
    for value in values:
        session = _ASSUMED_ROLE.match(value)
        if session:
            account, role = session.groups()
            sso = (
                " with its path, aws-reserved/sso.amazonaws.com/[<region>/]"
                if role.startswith("AWSReservedSSO_")
                else ""
            )
            problems.append(
                f"{value} is a role session (what `aws sts get-caller-identity` prints), which EKS access entries "
                f"do not take; use the role's ARN, arn:aws:iam::{account}:role/{role}{sso} "
                f"(`aws iam get-role --role-name {role} --query Role.Arn --output text` prints it)"
            )
        elif not _PRINCIPAL.match(value):
            problems.append(f"not an IAM role or user ARN: {value} (expected arn:aws:iam::<account>:role/<name>)")
    if problems:
        raise ValueError("; ".join(problems))


class ClusterConfig(ConfigModel):
    """The EKS control plane."""

    name: str = Field(pattern=r"^[a-zA-Z][a-zA-Z0-9-]{0,99}$", description="EKS cluster name.")
    kubernetes_version: str = Field(
        description=f"Pinned minor version, one of {', '.join(kubernetes.versions())} "
        "(stackconfig/kubernetes_versions.yaml)."
    )
    support_type: SupportType = Field(
        "STANDARD",
        description="At the end of standard support: STANDARD (AWS upgrades the control plane) or EXTENDED "
        "(stays, billed $0.60/h instead of $0.10/h). Default STANDARD.",
    )
    endpoint_public_access: bool = Field(True, description="Public API endpoint. Default true.")
    endpoint_private_access: bool = Field(True, description="Private API endpoint. Default true.")
    public_access_cidrs: list[Cidr] = Field(["0.0.0.0/0"], description="Who may reach the public endpoint.")
    log_types: list[LogType] = Field(
        ["api", "audit", "authenticator"], description="Control-plane logs sent to CloudWatch."
    )
    created_by: str | None = Field(
        None,
        description="The IAM role or user ARN that ran the first `pulumi up`: EKS gave it cluster-admin itself, "
        "so it may not be listed again (EKS refuses a second access entry for one ARN).",
    )
    admin_principals: list[str] = Field(
        [],
        description="IAM role/user ARNs given cluster-admin (AmazonEKSClusterAdminPolicy): the deploy roles "
        "and the team's roles.",
    )
    viewer_principals: list[str] = Field(
        [], description="IAM role/user ARNs given read-only access (AmazonEKSViewPolicy): the preview roles."
    )
    nvidia_device_plugin_version: str = Field(
        "0.17.1", pattern=r"^\d+\.\d+\.\d+$", description="NVIDIA device plugin chart version."
    )

    @property
    def addon_versions(self) -> dict[str, str]:
        """The EKS add-on versions of this Kubernetes minor (stackconfig/kubernetes_versions.yaml)."""
        return kubernetes.versions()[self.kubernetes_version].addons

    @field_validator("kubernetes_version", mode="before")
    @classmethod
    def _quoted(cls, value: object) -> object:
        if isinstance(value, float | int):
            # YAML reads 1.30 as the number 1.3, so the version must be a string.
            raise ValueError(f'{value!r} is a number; write the version quoted, e.g. "1.34"')
        return value

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, value: str) -> str:
        known = tuple(kubernetes.versions())
        if value not in known:
            raise ValueError(
                f"{aws_catalog.not_allowed(value, known, 'EKS Kubernetes version')}. A minor missing here is "
                "added to stackconfig/kubernetes_versions.yaml with its EKS support dates and cluster-autoscaler "
                "patch (docs/operations.md, Upgrades)"
            )
        return value

    @field_validator("log_types")
    @classmethod
    def _logs(cls, values: list[str]) -> list[str]:
        unique(values, "log type")
        return values

    @field_validator("created_by")
    @classmethod
    def _creator(cls, value: str | None) -> str | None:
        if value is not None:
            _principal_arns([value])
        return value

    @field_validator("admin_principals", "viewer_principals")
    @classmethod
    def _principals(cls, values: list[str]) -> list[str]:
        _principal_arns(values)
        unique(values, "principal")
        return values

    @model_validator(mode="after")
    def _one_entry_per_principal(self) -> ClusterConfig:
        """EKS keeps one access entry per ARN (botocore eks 2017-11-01 CreateAccessEntry: "You can't
        specify the same ARN in more than one access entry"), and pulumi-eks always has EKS make the
        creator's (bootstrapClusterCreatorAdminPermissions: true; pulumi/pulumi-eks@7bf0c1b1,
        nodejs/eks/cluster/cluster.ts, unchanged since v4.3.0)."""
        both = sorted(set(self.admin_principals) & set(self.viewer_principals))
        if both:
            raise ValueError(
                f"{', '.join(both)} in both adminPrincipals and viewerPrincipals: EKS keeps one entry "
                "per ARN; keep it in one list"
            )
        if self.created_by in (*self.admin_principals, *self.viewer_principals):
            raise ValueError(
                f"{self.created_by} is createdBy: EKS made its cluster-admin entry when it created the cluster "
                "and refuses a second one; remove it from adminPrincipals/viewerPrincipals"
            )
        return self


class AutoscalerConfig(ConfigModel):
    """The cluster autoscaler Helm release."""

    chart_version: str = Field("9.56.0", pattern=r"^\d+\.\d+\.\d+$", description="cluster-autoscaler chart.")
    image_tag: str | None = Field(
        None,
        pattern=r"^v1\.\d+\.\d+$",
        description="Image tag; its minor must match the cluster's. Default: the newest patch of that minor "
        "(stackconfig/kubernetes_versions.yaml).",
    )
    expander: list[Literal["least-waste", "random", "most-pods", "price", "priority", "least-nodes"]] = Field(
        ["least-waste"], min_length=1, description="Expanders in order of preference. Default least-waste."
    )
    scale_down_unneeded_time: str = Field(
        "10m", pattern=r"^\d+[smh]$", description="How long a node must be idle before removal."
    )
