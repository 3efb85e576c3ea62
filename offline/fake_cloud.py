"""What the offline engine answers in place of AWS and Kubernetes.

Only the outputs the program reads are made up here; everything else echoes the inputs. The values
are obviously fake (ids end in the resource name) so that nobody mistakes a plan for a real cloud.
"""

from __future__ import annotations

import json
from typing import Any

from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.mocks import MockMonitor

ACCOUNT_ID = "123456789012"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_SIG_KEY = "4dabf18193072939515e22adb298388d"

# Availability zones the fake cloud reports, by region; other regions get three made-up zones.
ZONES = {"us-east-2": ["us-east-2a", "us-east-2b", "us-east-2c"]}

_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc-",
    "aws:ec2/subnet:Subnet": "subnet-",
    "aws:ec2/securityGroup:SecurityGroup": "sg-",
    "aws:ec2/natGateway:NatGateway": "nat-",
    "aws:ec2/eip:Eip": "eipalloc-",
    "aws:ec2/internetGateway:InternetGateway": "igw-",
    "aws:ec2/routeTable:RouteTable": "rtb-",
    "aws:efs/fileSystem:FileSystem": "fs-",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt-",
    "aws:efs/mountTarget:MountTarget": "fsmt-",
    "aws:ec2/instance:Instance": "i-",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce-",
}


class FakeCloud(pulumi_mocks.Mocks):
    """Mocks that hand back plausible outputs for the resources this program creates."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.monitor: MockMonitor | None = None

    def attach(self, monitor: MockMonitor) -> None:
        """The monitor is needed to register the resources that references point at."""
        self.monitor = monitor

    def zones(self) -> list[str]:
        return ZONES.get(self.region, [f"{self.region}{s}" for s in "abc"])

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        return self._answer(args.token), []

    def _answer(self, token: str) -> dict[str, Any]:
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = self.zones()
            return {"names": names, "zoneIds": [f"use2-az{i + 1}" for i in range(len(names))]}
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/offline"}
        if token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region}
        if token == "aws:ec2/getAmi:getAmi":
            return {"id": "ami-0offline0arm64", "architecture": "arm64", "name": "al2023-ami-2023.offline-arm64"}
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com"}
        return {}

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict]:
        handler = {
            "eks:index:Cluster": self._cluster,
            "eks:index:ManagedNodeGroup": self._managed_node_group,
            "aws:iam/role:Role": self._role,
            "aws:ec2/instance:Instance": self._instance,
            "aws:iam/policy:Policy": self._policy,
            "aws:efs/fileSystem:FileSystem": self._file_system,
            "random:index/randomPassword:RandomPassword": self._random_password,
            "kubernetes:helm.sh/v3:Release": self._helm_release,
            "kubernetes:core/v1:Service": self._service,
            "aws:ec2/launchTemplate:LaunchTemplate": lambda _: {"latestVersion": 1, "defaultVersion": 1},
            "aws:s3/bucket:Bucket": self._bucket,
        }.get(args.typ)
        resource_id = args.resource_id or _ID_PREFIX.get(args.typ, "") + args.name
        state = dict(args.inputs)
        state.setdefault("arn", f"arn:aws:fake:{self.region}:{ACCOUNT_ID}:{args.name}")
        if handler is not None:
            state.update(handler(args))
        return resource_id, state

    # eks:index:Cluster is a remote component: none of its children exist offline, so its flat
    # outputs are made up here. An output left out would resolve to a known None, not "unknown".
    def _cluster(self, args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
        name = args.inputs.get("name") or args.name
        issuer = f"oidc.eks.{self.region}.amazonaws.com/id/OFFLINE{name.upper().replace('-', '')}"
        kubeconfig: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": f"https://{name}.offline.invalid"}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
            "users": [{"name": name, "user": {}}],
        }
        return {
            "kubeconfig": kubeconfig,
            "kubeconfigJson": json.dumps(kubeconfig),
            "oidcProviderArn": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{issuer}",
            "oidcProviderUrl": f"https://{issuer}",
            "oidcIssuer": issuer,
            "clusterSecurityGroupId": f"sg-{name}-cluster",
            "nodeSecurityGroupId": f"sg-{name}-node",
        }

    # A managed node group's ASG name sits inside its aws.eks.NodeGroup, a resource-typed output
    # that must come back as a resource reference to a registered (fake) resource.
    def _managed_node_group(self, args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
        assert self.monitor is not None, "attach() the monitor before running the program"
        urn = f"urn:pulumi:offline::dandihub::aws:eks/nodeGroup:NodeGroup::{args.name}-nodegroup"
        state = {
            "nodeGroupName": f"{args.name}-offline",
            "resources": [{"autoscalingGroups": [{"name": fake_asg_name(args.name)}]}],
        }
        self.monitor.resources[urn] = MockMonitor.ResourceRegistration(urn, args.name, state)
        return {"nodeGroup": {_SIG_KEY: _RESOURCE_SIG, "urn": urn, "id": args.name, "packageVersion": ""}}

    def _role(self, args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
        return {"arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{args.name}", "name": args.name}

    def _instance(self, args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
        return {"primaryNetworkInterfaceId": f"eni-{args.name}", "publicIp": "198.51.100.7"}

    def _bucket(self, args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
        """S3's name: the prefix and a made-up suffix, as Pulumi's auto-naming would."""
        name = args.inputs.get("bucket") or f"{args.inputs.get('bucketPrefix', args.name)}offline0001"
        return {"bucket": name, "arn": f"arn:aws:s3:::{name}"}

    def _policy(self, args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
        return {"arn": f"arn:aws:iam::{ACCOUNT_ID}:policy/{args.name}"}

    def _file_system(self, args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
        fs_id = args.resource_id or f"fs-{args.name}"
        return {"arn": f"arn:aws:elasticfilesystem:{self.region}:{ACCOUNT_ID}:file-system/{fs_id}"}

    def _random_password(self, args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
        return {"result": f"offline-random-{args.name}"}

    def _helm_release(self, args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
        name = args.inputs.get("name") or args.name
        namespace = args.inputs.get("namespace") or "default"
        return {"status": {"name": name, "namespace": namespace, "status": "deployed", "version": 1}}

    # The hub reads back its proxy-public Service for the load balancer's hostname.
    def _service(self, args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
        name = (args.inputs.get("metadata") or {}).get("name") or args.name
        hostname = f"{name}-offline.{self.region}.elb.amazonaws.com"
        return {"status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}}}


def fake_asg_name(node_group_resource_name: str) -> str:
    """The Auto Scaling group name the fake cloud gives a managed node group."""
    return f"eks-{node_group_resource_name}-asg"
