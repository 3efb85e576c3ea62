"""The VPC: a public and a private subnet in each AZ, NAT for the private side, load-balancer tags."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config import NetworkConfig


@dataclass(frozen=True)
class NetworkArgs:
    """What the network needs: its config slice and the cluster name that its subnet tags name."""

    config: NetworkConfig
    cluster_name: str


def subnet_cidrs(cidr: str, az_count: int) -> tuple[list[str], list[str]]:
    """Private subnets take the first eighths of the VPC (pods get VPC IPs), public ones share the last."""
    vpc = ipaddress.IPv4Network(cidr)
    eighths = list(vpc.subnets(prefixlen_diff=3))
    private = [str(n) for n in eighths[:az_count]]
    public = [str(n) for n in list(eighths[7].subnets(prefixlen_diff=3))[:az_count]]
    return public, private


class Network(pulumi.ComponentResource):
    """A new VPC over `azCount` AZs, or an existing one passed through untouched."""

    vpc_id: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]
    private_subnets: dict[str, pulumi.Output[str]]
    availability_zones: list[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("dandihub:network:Network", name, None, opts)
        existing = args.config.existing
        if existing is not None:
            self.vpc_id = pulumi.Output.from_input(existing.vpc_id)
            self.public_subnet_ids = pulumi.Output.from_input(existing.public_subnet_ids)
            self.private_subnet_ids = pulumi.Output.from_input(existing.private_subnet_ids)
            self.private_subnets = {s: pulumi.Output.from_input(s) for s in existing.private_subnet_ids}
            self.availability_zones = []
        else:
            self._build(name, args)
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
            }
        )

    def _build(self, name: str, args: NetworkArgs) -> None:
        config = args.config
        child = pulumi.ResourceOptions(parent=self)
        zones = aws.get_availability_zones(state="available", opts=pulumi.InvokeOptions(parent=self)).names
        if len(zones) < config.az_count:
            raise pulumi.RunError(
                f"dandihub:network.azCount is {config.az_count}, but the region has only "
                f"{len(zones)} available AZs: {', '.join(zones)}"
            )
        self.availability_zones = list(zones[: config.az_count])
        public_cidrs, private_cidrs = subnet_cidrs(config.cidr, config.az_count)
        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=config.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{name}-vpc"},
            opts=child,
        )
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags={"Name": f"{name}-igw"}, opts=child)
        public_routes = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)],
            tags={"Name": f"{name}-public"},
            opts=child,
        )
        public: list[aws.ec2.Subnet] = []
        private: list[aws.ec2.Subnet] = []
        nats: dict[str, aws.ec2.NatGateway] = {}
        self.private_subnets = {}
        for zone, public_cidr, private_cidr in zip(self.availability_zones, public_cidrs, private_cidrs, strict=True):
            subnet = aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=vpc.id,
                cidr_block=public_cidr,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-public-{zone}", "kubernetes.io/role/elb": "1", **cluster_tag},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{zone}", subnet_id=subnet.id, route_table_id=public_routes.id, opts=child
            )
            public.append(subnet)
            if config.nat_gateways == "perAz" or not nats:
                address = aws.ec2.Eip(
                    f"{name}-nat-{zone}", domain="vpc", tags={"Name": f"{name}-nat-{zone}"}, opts=child
                )
                nats[zone] = aws.ec2.NatGateway(
                    f"{name}-nat-{zone}",
                    allocation_id=address.id,
                    subnet_id=subnet.id,
                    tags={"Name": f"{name}-nat-{zone}"},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
                )
            nat = nats.get(zone) or next(iter(nats.values()))
            private_subnet = aws.ec2.Subnet(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                cidr_block=private_cidr,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-private-{zone}", "kubernetes.io/role/internal-elb": "1", **cluster_tag},
                opts=child,
            )
            routes = aws.ec2.RouteTable(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
                tags={"Name": f"{name}-private-{zone}"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone}", subnet_id=private_subnet.id, route_table_id=routes.id, opts=child
            )
            private.append(private_subnet)
            self.private_subnets[zone] = private_subnet.id
        self.vpc = vpc
        self.vpc_id = vpc.id
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public])
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private])
