"""What a node of each instance type gives to pods, from a dated table and the EKS AMI's reservations."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TABLE = Path(__file__).with_name("instance_types.yaml")
MIB = 1024**2


@functools.cache
def _table() -> dict[str, Any]:
    return yaml.safe_load(TABLE.read_text())


def checked() -> str:
    """When the table was last checked against its sources."""
    return str(_table()["checked"])


def known() -> tuple[str, ...]:
    return tuple(_table()["types"])


@dataclass(frozen=True)
class Allocatable:
    """CPU and memory the scheduler may hand to pods on an empty node, after the EKS add-on daemons."""

    instance_type: str
    cpu: float
    memory_bytes: float
    max_pods: int
    gpus: int

    @property
    def memory_gib(self) -> float:
        return self.memory_bytes / 1024**3


def spec(instance_type: str) -> dict[str, Any]:
    return _table()["types"][instance_type]


def memory_seen_gib(instance_type: str) -> float:
    """Memory the guest kernel reports: the nominal size less the VM overhead estimate."""
    return spec(instance_type)["memoryMiB"] * (1 - _table()["vmMemoryOverheadPercent"] / 100) / 1024


def allocatable(instance_type: str) -> Allocatable:
    table, row = _table(), spec(instance_type)
    reserved = table["kubeReservedMemoryMiB"]
    memory_mib = (
        memory_seen_gib(instance_type) * 1024
        - (reserved["base"] + reserved["perPod"] * row["maxPods"])
        - table["evictionHardMemoryMiB"]
        - table["addonDaemons"]["memoryMiB"]
    )
    shares = table["kubeReservedCpuShares"]
    reserved_cpu = sum(shares[: row["vcpu"]]) + max(0, row["vcpu"] - len(shares)) * table["kubeReservedCpuShareBeyond"]
    cpu = row["vcpu"] - reserved_cpu - table["addonDaemons"]["cpuMillis"] / 1000
    return Allocatable(instance_type, cpu, memory_mib * MIB, row["maxPods"], row.get("gpus", 0))


def smallest(instance_types: list[str]) -> Allocatable:
    """The type that gives pods the least (by memory, then CPU): what a profile can count on in the group."""
    return min((allocatable(t) for t in instance_types), key=lambda a: (a.memory_bytes, a.cpu))
