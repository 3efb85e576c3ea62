"""The `dandihub:network` section: the VPC the stack makes, or the existing one it uses."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from stackconfig.types import Cidr, ConfigModel, InstanceType, unique


def _resource_ids(values: list[str], prefix: str, what: str) -> list[str]:
    """EC2 resource ids of one kind (`subnet-...`, `rtb-...`), each once."""
    bad = [v for v in values if not re.match(rf"^{prefix}-[0-9a-f]{{8,17}}$", v)]
    if bad:
        raise ValueError(f"not {what} ids: {', '.join(bad)} (expected {prefix}-0123abcd...)")
    unique(values, what)
    return values


class ExistingNetwork(ConfigModel):
    """An existing VPC to build in instead of creating one."""

    vpc_id: str = Field(pattern=r"^vpc-[0-9a-f]{8,17}$", description="The VPC id.")
    public_subnet_ids: list[str] = Field(min_length=1, description="Subnets for load balancers.")
    private_subnet_ids: list[str] = Field(min_length=1, description="Subnets for nodes and EFS.")
    s3_endpoint_route_table_ids: list[str] = Field(
        [],
        description="Route tables of the private subnets to give an S3 gateway endpoint (the stack creates "
        "it). Empty: the VPC must have one already, or archive reads and ECR layers go through NAT "
        "(the config check warns).",
    )

    @field_validator("public_subnet_ids", "private_subnet_ids")
    @classmethod
    def _subnet_ids(cls, values: list[str]) -> list[str]:
        return _resource_ids(values, "subnet", "subnet")

    @field_validator("s3_endpoint_route_table_ids")
    @classmethod
    def _route_table_ids(cls, values: list[str]) -> list[str]:
        return _resource_ids(values, "rtb", "route table")


class NetworkConfig(ConfigModel):
    """VPC layout. Defaults: 10.0.0.0/16 over 3 AZs with one shared NAT gateway."""

    cidr: Cidr = Field("10.0.0.0/16", description="VPC CIDR, /16 to /20. Default 10.0.0.0/16.")
    az_count: int = Field(3, ge=2, le=6, description="AZs to spread subnets over, 2-6. Default 3.")
    nat_gateways: Literal["single", "perAz", "instance"] = Field(
        "single",
        description="Egress: one shared NAT gateway, one per AZ (resilient), or one small NAT instance "
        "(cheapest; EC2 recovers it; refused on production). Default single.",
    )
    nat_instance_type: InstanceType = Field("t4g.nano", description="With natGateways instance: its type.")
    existing: ExistingNetwork | None = Field(None, description="Use this VPC; create no network.")

    @property
    def s3_endpoint(self) -> bool:
        """Whether the private side reaches S3 through a gateway endpoint of this stack: always in a new VPC,
        in an existing one on the route tables listed."""
        return self.existing is None or bool(self.existing.s3_endpoint_route_table_ids)

    @property
    def zone_count(self) -> int:
        """How many AZs (or, in an existing VPC, private subnets) nodes can be placed in."""
        return len(self.existing.private_subnet_ids) if self.existing else self.az_count

    @field_validator("cidr")
    @classmethod
    def _prefix(cls, value: str) -> str:
        prefix = int(value.split("/")[1])
        if not 16 <= prefix <= 20:
            raise ValueError(f"{value!r}: the VPC prefix must be /16 to /20 to hold 2 subnets per AZ")
        return value
