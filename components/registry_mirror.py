"""Docker Hub through ECR: a pull-through cache rule in the stack's account and region, its Docker Hub login in
Secrets Manager, and the node role allowed to pull through it.

Nodes then pull the hub's Docker Hub images from ECR in the same region: layers come from S3 through the
gateway endpoint, not through NAT; no anonymous Docker Hub rate limit applies to the NAT addresses; and a
Docker Hub outage stops nothing that was pulled once. ECR fetches an image from Docker Hub the first time
a node asks for it, and keeps it (a repository creation template gives each cached repository a lifecycle
policy, so old digests expire).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from stackconfig.image_refs import DOCKER_HUB_REGISTRY
from stackconfig.images import DockerHubMirrorConfig

# ECR reads the upstream login only from a secret whose name starts with this (botocore's ecr model,
# CredentialArn pattern; ECR User Guide, "Storing your upstream repository credentials").
SECRET_PREFIX = "ecr-pullthroughcache/"
# Beyond the pull permissions of AmazonEC2ContainerRegistryReadOnly, what a puller needs for the cache to
# fetch an image (and create its repository) on first pull (ECR User Guide, "IAM permissions required to
# sync an upstream registry").
PULL_THROUGH_ACTIONS = ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]


@dataclass(frozen=True)
class DockerHubMirrorArgs:
    config: DockerHubMirrorConfig
    stack: str
    region: str
    access_token: pulumi.Output[str]
    node_role: aws.iam.Role


def default_prefix(stack: str) -> str:
    """Staging and prod may share an account: each stack's cache gets its own prefix."""
    return f"docker-hub-{stack}"


class DockerHubMirror(pulumi.ComponentResource):
    """The cache rule and what it needs; `registry` is where the hub's Docker Hub images are pulled from."""

    registry: str

    def __init__(self, name: str, args: DockerHubMirrorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("dandihub:mirror:DockerHubMirror", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config = args.config
        prefix = config.prefix or default_prefix(args.stack)
        account = aws.get_caller_identity(opts=pulumi.InvokeOptions(parent=self)).account_id
        self.registry = f"{account}.dkr.ecr.{args.region}.amazonaws.com/{prefix}"
        secret = aws.secretsmanager.Secret(
            f"{name}-docker-hub-login",
            name=f"{SECRET_PREFIX}dandihub-{args.stack}-docker-hub",
            description=f"dandihub {args.stack}: the Docker Hub login of ECR's pull-through cache {prefix}/",
            # Set again from the stack config on any `up`: nothing to recover, and the name is free at once.
            recovery_window_in_days=0,
            opts=child,
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-docker-hub-login",
            secret_id=secret.id,
            # json_dumps keeps the token's secrecy: the whole document is a secret Output.
            secret_string=pulumi.Output.json_dumps({"username": config.username, "accessToken": args.access_token}),
            opts=pulumi.ResourceOptions(parent=secret),
        )
        rule = aws.ecr.PullThroughCacheRule(
            f"{name}-rule",
            ecr_repository_prefix=prefix,
            upstream_registry_url=DOCKER_HUB_REGISTRY,
            credential_arn=secret.arn,
            opts=child,
        )
        aws.ecr.RepositoryCreationTemplate(
            f"{name}-repositories",
            prefix=prefix,
            applied_fors=["PULL_THROUGH_CACHE"],
            description=f"dandihub {args.stack}: Docker Hub images cached for the hub's nodes",
            lifecycle_policy=json.dumps(
                {
                    "rules": [
                        {
                            "rulePriority": 1,
                            "description": f"keep the {config.kept_digests} newest digests of each image",
                            "selection": {
                                "tagStatus": "any",
                                "countType": "imageCountMoreThan",
                                "countNumber": config.kept_digests,
                            },
                            "action": {"type": "expire"},
                        }
                    ]
                }
            ),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-node-pull-through",
            role=args.node_role.name,
            policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "PullThroughTheDockerHubCache",
                            "Effect": "Allow",
                            "Action": PULL_THROUGH_ACTIONS,
                            "Resource": f"arn:aws:ecr:{args.region}:{account}:repository/{prefix}/*",
                        }
                    ],
                }
            ),
            opts=child,
        )
        self.rule = rule
        self.register_outputs({"registry": self.registry})
