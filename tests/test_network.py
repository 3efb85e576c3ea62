"""The VPC: subnets per AZ with load-balancer tags, NAT per stack, existing-VPC pass-through, providers."""

from __future__ import annotations

import ipaddress

from offline.engine import Plan
from offline.fake_cloud import ZONES
from tests.conftest import in_component, plan_with, stack_config
from tests.stack_configs import EXISTING_VPC

ZONES_HERE = ZONES["us-east-2"]


def subnets(plan: Plan, kind: str) -> list:
    return [r for r in plan.of_type("aws:ec2/subnet:Subnet") if f"-{kind}-" in r.name]


def test_one_public_and_one_private_subnet_per_az(plan: Plan) -> None:
    for kind, role_tag in (("public", "kubernetes.io/role/elb"), ("private", "kubernetes.io/role/internal-elb")):
        found = subnets(plan, kind)
        count = stack_config(plan)["dandihub:network"]["azCount"]
        assert sorted(s.inputs["availabilityZone"] for s in found) == ZONES_HERE[:count]
        for subnet in found:
            tags = subnet.inputs["tags"]
            assert tags[role_tag] == "1"
            assert tags[f"kubernetes.io/cluster/dandihub-{plan.stack}"] == "shared"
            assert subnet.inputs["mapPublicIpOnLaunch"] is False


def test_subnets_lie_inside_the_vpc_and_do_not_overlap(plan: Plan) -> None:
    vpc = ipaddress.IPv4Network(plan.one("aws:ec2/vpc:Vpc").inputs["cidrBlock"])
    assert str(vpc) == stack_config(plan)["dandihub:network"]["cidr"]
    blocks = [ipaddress.IPv4Network(s.inputs["cidrBlock"]) for s in plan.of_type("aws:ec2/subnet:Subnet")]
    assert all(b.subnet_of(vpc) for b in blocks)
    assert not any(a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])
    # Pods take VPC addresses, so the private side gets the big blocks.
    assert min(b.num_addresses for b in blocks) >= 1024
    assert {ipaddress.IPv4Network(s.inputs["cidrBlock"]).prefixlen for s in subnets(plan, "private")} == {19}


def _private_route_nats(plan: Plan) -> dict[str, str]:
    tables = [r for r in plan.of_type("aws:ec2/routeTable:RouteTable") if "-private-" in r.name]
    return {t.name.rsplit("-private-", 1)[1]: t.inputs["routes"][0]["natGatewayId"] for t in tables}


def test_a_single_nat_gateway_is_shared() -> None:
    plan = plan_with("staging", set_={"network.natGateways": "single"})
    assert len(plan.of_type("aws:ec2/natGateway:NatGateway")) == 1
    assert set(_private_route_nats(plan).values()) == {"nat-network-nat-us-east-2a"}


def test_staging_leaves_through_one_nat_instance_that_admits_only_the_vpc(staging: Plan) -> None:
    """AWS's documented NAT instance: source/destination check off, forwarding and masquerade set up at
    boot, its group open to the VPC only, every private route through it, EC2 recovering it."""
    assert staging.of_type("aws:ec2/natGateway:NatGateway") == []
    instance = staging.one("aws:ec2/instance:Instance", "network-nat-instance")
    inputs = instance.inputs
    assert inputs["sourceDestCheck"] is False and inputs["associatePublicIpAddress"] is True
    assert inputs["instanceType"] == "t4g.nano" and inputs["ami"] == "ami-0offline0arm64"
    assert "MASQUERADE" in inputs["userData"] and "net.ipv4.ip_forward = 1" in inputs["userData"]
    assert inputs["metadataOptions"]["httpTokens"] == "required"
    assert "ami" in instance.ignore_changes
    public = {s.id for s in subnets(staging, "public")}
    assert inputs["subnetId"] in public
    (group,) = [
        g for g in staging.of_type("aws:ec2/securityGroup:SecurityGroup") if g.name == "network-nat-instance-sg"
    ]
    assert [r["cidrBlocks"] for r in group.inputs["ingress"]] == [[stack_config(staging)["dandihub:network"]["cidr"]]]
    tables = [r for r in staging.of_type("aws:ec2/routeTable:RouteTable") if "-private-" in r.name]
    assert {t.inputs["routes"][0]["networkInterfaceId"] for t in tables} == {"eni-network-nat-instance"}
    actions = sorted(
        a.inputs["alarmActions"][0]
        for a in staging.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        if a.parent == instance.urn
    )
    assert actions == ["arn:aws:automate:us-east-2:ec2:reboot", "arn:aws:automate:us-east-2:ec2:recover"]


def test_prod_has_a_nat_gateway_in_each_az(prod: Plan) -> None:
    nats = prod.of_type("aws:ec2/natGateway:NatGateway")
    assert len(nats) == 3
    assert _private_route_nats(prod) == {zone: f"nat-network-nat-{zone}" for zone in ZONES_HERE}
    public_ids = {f"subnet-{s.name}" for s in subnets(prod, "public")}
    assert {n.inputs["subnetId"] for n in nats} == public_ids


def test_public_subnets_route_to_the_internet_gateway(plan: Plan) -> None:
    public = plan.one("aws:ec2/routeTable:RouteTable", "network-public")
    assert public.inputs["routes"] == [{"cidrBlock": "0.0.0.0/0", "gatewayId": "igw-network-igw"}]


def test_az_count_decides_the_subnets() -> None:
    plan = plan_with("staging", set_={"network.azCount": 2})
    assert sorted(s.inputs["availabilityZone"] for s in subnets(plan, "private")) == ZONES_HERE[:2]
    assert len(plan.of_type("aws:efs/mountTarget:MountTarget")) == 2


def test_existing_vpc_creates_no_network_resources() -> None:
    existing = EXISTING_VPC
    plan = plan_with("staging", set_={"network.existing": existing})
    assert in_component(plan, "dandihub:network:Network") == []
    # Security groups and the node groups' launch templates are not network resources.
    kept = {"aws:ec2/securityGroup:SecurityGroup", "aws:ec2/launchTemplate:LaunchTemplate"}
    assert not [r for r in plan.resources if r.type.startswith("aws:ec2/") and r.type not in kept]
    cluster = plan.one("eks:index:Cluster").inputs
    assert cluster["vpcId"] == existing["vpcId"]
    assert cluster["privateSubnetIds"] == existing["privateSubnetIds"]
    assert cluster["publicSubnetIds"] == existing["publicSubnetIds"]
    mounts = plan.of_type("aws:efs/mountTarget:MountTarget")
    assert sorted(m.inputs["subnetId"] for m in mounts) == existing["privateSubnetIds"]


def test_every_private_route_table_reaches_s3_through_a_gateway_endpoint(plan: Plan) -> None:
    """The archive (us-east-2) and ECR's layers (served from S3) skip NAT on both stacks; the public side,
    whose only private-side client is the NAT instance, needs no route of its own."""
    endpoint = plan.one("aws:ec2/vpcEndpoint:VpcEndpoint", "network-s3").inputs
    assert endpoint["vpcEndpointType"] == "Gateway"
    assert endpoint["serviceName"] == "com.amazonaws.us-east-2.s3"
    assert endpoint["vpcId"] == "vpc-network-vpc"
    private = {t.id for t in plan.of_type("aws:ec2/routeTable:RouteTable") if "-private-" in t.name}
    assert len(private) == stack_config(plan)["dandihub:network"]["azCount"]
    assert sorted(endpoint["routeTableIds"]) == sorted(private)


def test_an_existing_vpc_gets_the_s3_endpoint_on_the_route_tables_named_or_a_warning() -> None:
    tables = ["rtb-0aaaaaaaaaaaaaaa1", "rtb-0aaaaaaaaaaaaaaa2"]
    plan = plan_with("staging", set_={"network.existing": {**EXISTING_VPC, "s3EndpointRouteTableIds": tables}})
    endpoint = plan.one("aws:ec2/vpcEndpoint:VpcEndpoint").inputs
    assert (endpoint["vpcId"], endpoint["routeTableIds"]) == (EXISTING_VPC["vpcId"], tables)
    assert not [w for w in plan.warnings if "s3EndpointRouteTableIds" in w]
    bare = plan_with("staging", set_={"network.existing": EXISTING_VPC})
    assert bare.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") == []
    (warning,) = [w for w in bare.warnings if "s3EndpointRouteTableIds" in w]
    assert "must already have an S3 gateway endpoint" in warning


def test_every_aws_resource_uses_the_tagged_provider(plan: Plan) -> None:
    provider = plan.one("pulumi:providers:aws")
    aws_resources = [r for r in plan.resources if r.custom and r.type.startswith("aws:")]
    assert aws_resources
    assert {r.provider_urn for r in aws_resources} == {provider.urn}
    assert plan.one("eks:index:Cluster").providers["aws"].startswith(provider.urn)


def test_cost_tags_reach_the_provider(plan: Plan) -> None:
    import json

    provider = plan.one("pulumi:providers:aws").inputs
    assert provider["region"] == "us-east-2"
    tags = json.loads(provider["defaultTags"])["tags"]
    cost = stack_config(plan)["dandihub:costTags"]
    assert tags == {
        "Project": "dandihub",
        "Stack": plan.stack,
        "Owner": cost["owner"],
        "CostCenter": cost["costCenter"],
        "ManagedBy": "pulumi",
    }
