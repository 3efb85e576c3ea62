"""The EC2 vCPU quotas a stack needs with every node group at its maxSize, by quota family.

EC2 limits running vCPUs per family, on-demand and spot apart. A new account starts low (0 vCPUs of G and
VT instances), and a group the quota cannot hold stops growing with no error in the plan: the autoscaler
logs it and users wait. The first deploy requests these in advance (README, First deploy).
"""

from __future__ import annotations

from dataclasses import dataclass

from stackconfig import instances
from stackconfig.stack import StackConfig


@dataclass(frozen=True)
class QuotaFamily:
    name: str
    # The Service Quotas code (service ec2) of this family's vCPU quota.
    code: str
    capacity_type: str
    gpu: bool


# The EC2 vCPU quotas (AWS EC2 User Guide, "On-Demand Instance quotas", "Spot Instance quotas"). Standard
# covers the A, C, D, H, I, M, R, T and Z families; G and VT have their own.
FAMILIES = (
    QuotaFamily("Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", "L-1216C47A", "ON_DEMAND", False),
    QuotaFamily("All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests", "L-34B43A08", "SPOT", False),
    QuotaFamily("Running On-Demand G and VT instances", "L-DB2E81BA", "ON_DEMAND", True),
    QuotaFamily("All G and VT Spot Instance Requests", "L-3819A6DF", "SPOT", True),
)
STANDARD_LETTERS = set("acdhimrtz")


def _family(instance_type: str, capacity_type: str) -> QuotaFamily | None:
    prefix = instance_type.split(".")[0]
    gpu = prefix.startswith(("g", "vt"))
    if not gpu and prefix[0] not in STANDARD_LETTERS:
        return None  # P, X, F, Inf, Trn, DL: quotas of their own, not used by these stacks
    return next(f for f in FAMILIES if f.capacity_type == capacity_type and f.gpu == gpu)


def needed(config: StackConfig) -> dict[QuotaFamily, int]:
    """vCPUs per quota family with every group at its maxSize on its largest instance type (one core
    group per zone; the NAT instance not counted)."""
    totals = dict.fromkeys(FAMILIES, 0)
    for group in config.node_groups.values():
        groups = group.zones if group.role == "core" else 1
        largest = max(instances.spec(t)["vcpu"] for t in group.instance_types)
        family = _family(group.instance_types[0], group.capacity_type)
        if family is not None:
            totals[family] += groups * group.max_size * largest
    return totals


def render(config: StackConfig) -> str:
    lines = ["EC2 vCPU quotas needed with every group at its maxSize (request them before the first `up`):"]
    for family, vcpus in needed(config).items():
        lines.append(f"  {vcpus:>5} vCPU  {family.code}  {family.name}")
    lines.append(
        "  request: aws service-quotas request-service-quota-increase --service-code ec2 "
        "--quota-code <code> --desired-value <vCPU>"
    )
    return "\n".join(lines)
