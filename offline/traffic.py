"""What the private side's traffic costs at NAT in an assumed month, and what the S3 gateway endpoint saves.

The volumes are an assumption stated in offline/prices.yaml (`traffic_gb_month`, by stack). A NAT gateway
bills data processing per GB in either direction; a NAT instance bills none (its limit is bandwidth, which
the start-time model counts). In-region S3 (the DANDI archive, and ECR's image layers, which ECR serves from
S3) goes through the S3 gateway endpoint when the stack has one, and so never reaches NAT. Node images come
from Docker Hub through NAT unless the ECR mirror is on (then they are ECR layers: S3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from offline.costs import CostLine, load_prices
from stackconfig.stack import StackConfig


@dataclass(frozen=True)
class Traffic:
    stack: str
    volumes: dict[str, float]
    nat_kind: str  # "gateway", "instance" or "existing"
    s3_endpoint: bool
    lines: list[CostLine]
    saved: float

    @property
    def monthly(self) -> float:
        return sum(line.monthly for line in self.lines)

    def render(self) -> str:
        v = self.volumes
        out = [
            f"NAT data processing in an assumed month (offline/prices.yaml traffic_gb_month.{self.stack}: "
            f"{v['s3']:g} GB in-region S3, {v['images']:g} GB Docker Hub images, {v['internet']:g} GB other internet):"
        ]
        out += [f"  {line.what:<72} ${line.monthly:>9.2f}/month" for line in self.lines]
        out.append(f"  {'total':<72} ${self.monthly:>9.2f}/month")
        if self.nat_kind == "gateway":
            what = "saved by the S3 gateway endpoint (in-region S3 kept off NAT)"
            out.append(f"  {what:<72} ${self.saved:>9.2f}/month")
        elif self.nat_kind == "instance":
            out.append("  a NAT instance bills no processing; the S3 endpoint keeps in-region S3 off its bandwidth")
        return "\n".join(out)


def nat_kind(config: StackConfig) -> str:
    if config.network.existing:
        return "existing"
    return "instance" if config.network.nat_gateways == "instance" else "gateway"


def traffic(config: StackConfig, stack: str, prices: dict[str, Any] | None = None) -> Traffic:
    prices = prices or load_prices()
    volumes = {k: float(v) for k, v in prices["traffic_gb_month"][stack].items()}
    kind = nat_kind(config)
    per_gb = prices["nat_gateway_gb"] if kind == "gateway" else 0.0
    how = {"gateway": f"NAT gateway processing at ${per_gb:g}/GB", "instance": "NAT instance, no per-GB charge",
           "existing": "the existing VPC's NAT, not priced here"}[kind]  # fmt: skip
    endpoint = config.network.s3_endpoint
    mirrored = config.hub.docker_hub_mirror.enabled
    s3_gb = volumes["s3"] + (volumes["images"] if mirrored else 0.0)
    lines = [
        CostLine(
            f"in-region S3 (archive, ECR layers) {s3_gb:g} GB: " + ("S3 gateway endpoint, free" if endpoint else how),
            0.0 if endpoint else s3_gb * per_gb,
        )
    ]
    if not mirrored:
        lines.append(
            CostLine(f"Docker Hub image pulls {volumes['images']:g} GB (mirror off): {how}", volumes["images"] * per_gb)
        )
    lines.append(CostLine(f"other internet {volumes['internet']:g} GB: {how}", volumes["internet"] * per_gb))
    return Traffic(stack, volumes, kind, endpoint, lines, s3_gb * per_gb if endpoint else 0.0)
