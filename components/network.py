"""The VPC: a public and a private subnet in each AZ, NAT for the private side, an S3 gateway endpoint on
the private route tables, load-balancer tags."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.nat_instance import nat_instance
from stackconfig.network import NetworkConfig


@dataclass(frozen=True)
class NetworkArgs:
    """What the network needs: its config slice and the cluster name that its subnet tags name."""

    config: NetworkConfig
    cluster_name: str
    region: str


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
    # What carries the private side's traffic out (watched by the egress alarm): none in an existing VPC.
    nat_gateway_ids: list[pulumi.Output[str]]
    nat_instance_id: pulumi.Output[str] | None

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("dandihub:network:Network", name, None, opts)
        existing = args.config.existing
        if existing is not None:
            self.vpc_id = pulumi.Output.from_input(existing.vpc_id)
            self.public_subnet_ids = pulumi.Output.from_input(existing.public_subnet_ids)
            self.private_subnet_ids = pulumi.Output.from_input(existing.private_subnet_ids)
            self.private_subnets = {s: pulumi.Output.from_input(s) for s in existing.private_subnet_ids}
            self.availability_zones = []
            self.nat_gateway_ids = []
            self.nat_instance_id = None
            if existing.s3_endpoint_route_table_ids:
                self._s3_endpoint(name, existing.vpc_id, existing.s3_endpoint_route_table_ids, args.region)
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
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=config.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{name}-vpc"},
            opts=child,
        )
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags={"Name": f"{name}-igw"}, opts=child)
        public_routes = self._route_table(f"{name}-public", vpc, gateway_id=gateway.id)
        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}

        def subnet(kind: str, zone: str, cidr: str, role_tag: str, routes: aws.ec2.RouteTable) -> aws.ec2.Subnet:
            created = aws.ec2.Subnet(
                f"{name}-{kind}-{zone}",
                vpc_id=vpc.id,
                cidr_block=cidr,
                availability_zone=zone,
                # Nothing here gets a public IP: nodes are private, NAT and load balancers bring their own.
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-{kind}-{zone}", role_tag: "1", **cluster_tag},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-{kind}-{zone}", subnet_id=created.id, route_table_id=routes.id, opts=child
            )
            return created

        public: list[aws.ec2.Subnet] = []
        private: list[aws.ec2.Subnet] = []
        private_routes: list[aws.ec2.RouteTable] = []
        nats: dict[str, aws.ec2.NatGateway] = {}
        nat_box: aws.ec2.Instance | None = None
        self.private_subnets = {}
        for zone, public_cidr, private_cidr in zip(self.availability_zones, public_cidrs, private_cidrs, strict=True):
            public.append(subnet("public", zone, public_cidr, "kubernetes.io/role/elb", public_routes))
            if config.nat_gateways == "instance":
                nat_box = nat_box or nat_instance(
                    f"{name}-nat-instance",
                    vpc=vpc,
                    vpc_cidr=config.cidr,
                    subnet=public[-1],
                    instance_type=config.nat_instance_type,
                    region=args.region,
                    parent=self,
                )
                routes = self._route_table(
                    f"{name}-private-{zone}", vpc, network_interface_id=nat_box.primary_network_interface_id
                )
                private_routes.append(routes)
                private.append(subnet("private", zone, private_cidr, "kubernetes.io/role/internal-elb", routes))
                self.private_subnets[zone] = private[-1].id
                continue
            if config.nat_gateways == "perAz" or not nats:
                address = aws.ec2.Eip(
                    f"{name}-nat-{zone}", domain="vpc", tags={"Name": f"{name}-nat-{zone}"}, opts=child
                )
                nats[zone] = aws.ec2.NatGateway(
                    f"{name}-nat-{zone}",
                    allocation_id=address.id,
                    subnet_id=public[-1].id,
                    tags={"Name": f"{name}-nat-{zone}"},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
                )
            # With a single NAT gateway every AZ's private traffic leaves through the first one.
            nat = nats.get(zone) or next(iter(nats.values()))
            routes = self._route_table(f"{name}-private-{zone}", vpc, nat_gateway_id=nat.id)
            private_routes.append(routes)
            private.append(subnet("private", zone, private_cidr, "kubernetes.io/role/internal-elb", routes))
            self.private_subnets[zone] = private[-1].id
        self._s3_endpoint(name, vpc.id, [t.id for t in private_routes], args.region)
        self.nat_gateway_ids = [n.id for n in nats.values()]
        self.nat_instance_id = nat_box.id if nat_box else None
        self.vpc = vpc
        self.vpc_id = vpc.id
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public])
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private])

    def _s3_endpoint(
        self, name: str, vpc_id: pulumi.Input[str], route_table_ids: Sequence[pulumi.Input[str]], region: str
    ) -> aws.ec2.VpcEndpoint:
        """S3 in the region, off NAT: the endpoint adds a route to S3's prefix list to each private table, so
        archive reads (the DANDI bucket is in the stacks' region) and ECR's image layers (served from S3)
        neither pay NAT processing nor queue behind a NAT instance. A gateway endpoint is free. Pods still
        reach S3's public addresses, which the user servers' NetworkPolicy allows (nonPrivateIPs)."""
        return aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc_id,
            service_name=f"com.amazonaws.{region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=route_table_ids,
            tags={"Name": f"{name}-s3"},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _route_table(self, name: str, vpc: aws.ec2.Vpc, **default_route: pulumi.Input[str]) -> aws.ec2.RouteTable:
        """A route table whose default route goes to the given gateway (internet or NAT)."""
        return aws.ec2.RouteTable(
            name,
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", **default_route)],
            tags={"Name": name},
            opts=pulumi.ResourceOptions(parent=self),
        )
