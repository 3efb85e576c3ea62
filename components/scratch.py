"""Per-user cloud scratch: one S3 bucket per stack whose objects expire, and one IAM role for every user server
that lets each server read and write only its own prefix.

The scoping is EKS Pod Identity's session tags: EKS assumes the role for a pod with the tags eks-cluster-arn,
eks-cluster-name, kubernetes-namespace, kubernetes-service-account, kubernetes-pod-name and kubernetes-pod-uid
(Amazon EKS User Guide, "Grant Pods access to AWS resources based on tags", pod-id-abac). The hub names each
user's pod `jupyter-<user>` (KubeSpawner's pod_name_template) and users cannot make pods, so
`${aws:PrincipalTag/kubernetes-pod-name}` is the user: the policy allows objects under that prefix only, and
listing only with that prefix. IRSA cannot do this (its token names the service account, not the pod), and a
role or service account per user would need the hub to create IAM roles at spawn time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from stackconfig.storage import ScratchBucketConfig

# The service account every user server runs as (z2jh singleuser.serviceAccountName).
USER_SERVER_ACCOUNT = "user-server"
# Where each server's prefix comes from: its pod's name, which KubeSpawner expands from the same template in
# the server's environment (kubespawner 7.0.0 spawner.py, pod_name_template and _expand_env).
POD_NAME_TEMPLATE = "jupyter-{user_server}"
POD_PREFIX = "${aws:PrincipalTag/kubernetes-pod-name}"
OBJECT_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]


def server_policy(bucket: str, read_buckets: Sequence[str] = ()) -> dict[str, Any]:
    """What a user server may do in the bucket: objects under its own prefix, and list that prefix only; and
    read (get and list) the other buckets config names, such as the DANDI archive's public one, with the
    signed requests the AWS libraries make once the server has credentials."""
    reads = [f"arn:aws:s3:::{name}" for name in read_buckets]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OwnPrefixObjects",
                "Effect": "Allow",
                "Action": OBJECT_ACTIONS,
                "Resource": f"arn:aws:s3:::{bucket}/{POD_PREFIX}/*",
            },
            {
                "Sid": "ListOwnPrefix",
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
                "Resource": f"arn:aws:s3:::{bucket}",
                "Condition": {"StringLike": {"s3:prefix": [f"{POD_PREFIX}/", f"{POD_PREFIX}/*"]}},
            },
            *(
                [
                    {
                        "Sid": "ReadArchives",
                        "Effect": "Allow",
                        "Action": ["s3:GetObject", "s3:ListBucket"],
                        "Resource": [r for arn in reads for r in (arn, f"{arn}/*")],
                    }
                ]
                if reads
                else []
            ),
        ],
    }


def pod_identity_trust(cluster_arn: str, namespace: str) -> dict[str, Any]:
    """EKS Pod Identity may assume the role, with its session tags, only for the user servers' account."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Condition": {
                    "StringEquals": {
                        "aws:RequestTag/eks-cluster-arn": cluster_arn,
                        "aws:RequestTag/kubernetes-namespace": namespace,
                        "aws:RequestTag/kubernetes-service-account": USER_SERVER_ACCOUNT,
                    }
                },
            }
        ],
    }


def tls_only(bucket_arn: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyPlainHttp",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


@dataclass(frozen=True)
class ScratchArgs:
    """The bucket's settings and where user servers run: region and cluster, the hub's namespace (as an
    Output of the namespace resource and by name), whether production protects the bucket."""

    config: ScratchBucketConfig
    region: str
    cluster_name: str
    # The Pod Identity agent's add-on version for the cluster's minor (stackconfig/kubernetes_versions.yaml).
    agent_version: str
    namespace: pulumi.Input[str]
    hub_namespace: str
    protect: bool
    # The Pod Identity agent add-on only becomes active once nodes can run it.
    nodes: Sequence[pulumi.Resource]


class Scratch(pulumi.ComponentResource):
    """The scratch bucket, the user servers' role and service account, and the Pod Identity agent."""

    bucket_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    hub_values: dict[str, Any]

    def __init__(self, name: str, args: ScratchArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("dandihub:scratch:Scratch", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # User data, if only for a while: never deleted with the stack (the lifecycle rule empties it).
        keep = pulumi.ResourceOptions(parent=self, retain_on_delete=True, protect=args.protect)
        bucket = aws.s3.Bucket(f"{name}-bucket", bucket_prefix="dandihub-scratch-", opts=keep)
        aws.s3.BucketPublicAccessBlock(
            f"{name}-no-public-access", bucket=bucket.id, block_public_acls=True, block_public_policy=True,
            ignore_public_acls=True, restrict_public_buckets=True, opts=child,
        )  # fmt: skip
        aws.s3.BucketOwnershipControls(
            f"{name}-owner-enforced", bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"), opts=child,
        )  # fmt: skip
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-expiry",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-scratch",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=args.config.expire_after_days
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=1
                    ),
                )
            ],
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-tls-only", bucket=bucket.id, policy=bucket.arn.apply(lambda a: json.dumps(tls_only(a))), opts=child
        )
        cluster_arn = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id.apply(
            lambda account: f"arn:aws:eks:{args.region}:{account}:cluster/{args.cluster_name}"
        )
        role = aws.iam.Role(
            f"{name}-user-servers",
            assume_role_policy=cluster_arn.apply(lambda arn: json.dumps(pod_identity_trust(arn, args.hub_namespace))),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-own-prefix",
            role=role.id,
            policy=bucket.bucket.apply(lambda b: json.dumps(server_policy(b, args.config.read_buckets))),
            opts=child,
        )
        agent = aws.eks.Addon(
            f"{name}-pod-identity-agent",
            cluster_name=args.cluster_name,
            addon_name="eks-pod-identity-agent",
            addon_version=args.agent_version,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.nodes)),
        )
        account = k8s.core.v1.ServiceAccount(
            f"{name}-user-server-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=USER_SERVER_ACCOUNT, namespace=args.namespace),
            # The servers need no Kubernetes API token; Pod Identity mounts its own.
            automount_service_account_token=False,
            opts=child,
        )
        aws.eks.PodIdentityAssociation(
            f"{name}-user-servers",
            cluster_name=args.cluster_name,
            namespace=args.hub_namespace,
            service_account=USER_SERVER_ACCOUNT,
            role_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[agent, account]),
        )
        self.bucket_name = bucket.bucket
        self.role_arn = role.arn
        self.hub_values = {
            "singleuser": {
                "serviceAccountName": USER_SERVER_ACCOUNT,
                "extraEnv": {"SCRATCH_BUCKET": pulumi.Output.concat("s3://", bucket.bucket, f"/{POD_NAME_TEMPLATE}/")},
            },
            # KubeSpawner mounts a service account's API token unless told not to.
            "hub": {"config": {"KubeSpawner": {"automount_service_account_token": False}}},
        }
        self.register_outputs({"bucket_name": self.bucket_name, "role_arn": self.role_arn})
