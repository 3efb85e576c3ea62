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


def nat_network_mbps(instance_type: str) -> float | None:
    """A NAT instance type's baseline network bandwidth, Mbit/s, if the table has it."""
    row = (_table().get("natInstances") or {}).get(instance_type)
    return None if row is None else float(row["networkMbps"])


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


def nodeadm_max_pods(instance_type: str) -> int:
    """nodeadm's max pods, ENIs x (IPs per ENI - 1) + 2 (awslabs/amazon-eks-ami
    nodeadm/internal/kubelet/eni_max_pods.go), from which it sizes kube-reserved memory."""
    row = spec(instance_type)
    return int(row["enis"] * (row["ipsPerEni"] - 1) + 2)


# The VPC CNI assigns /28 prefixes instead of single addresses with prefix delegation: 16 pod IPs per slot
# (aws/amazon-vpc-cni-k8s docs/prefix-and-ip-target.md).
PREFIX_IPS = 16
# With prefix delegation a managed node group caps the kubelet's maxPods at 110 up to 30 vCPUs and 250 above
# (EKS user guide, "Choose an optimal Amazon EC2 node instance type", How maxPods is determined); that
# setting wins over nodeadm's, but not over kube-reserved, which nodeadm still sizes from its own number.
MNG_MAX_PODS_CAP = {False: 110, True: 250}


@dataclass(frozen=True)
class PodCapacity:
    """How many pods a node takes (the kubelet's maxPods) and how many VPC addresses it can give them."""

    max_pods: int
    pod_ips: int


def pod_capacity(instance_type: str, prefix_delegation: bool) -> PodCapacity:
    row = spec(instance_type)
    slots = row["enis"] * (row["ipsPerEni"] - 1)
    if not prefix_delegation:
        return PodCapacity(nodeadm_max_pods(instance_type), slots)
    return PodCapacity(min(slots * PREFIX_IPS + 2, MNG_MAX_PODS_CAP[row["vcpu"] > 30]), slots * PREFIX_IPS)


def allocatable(instance_type: str, with_addon_daemons: bool = True) -> Allocatable:
    """What the scheduler can give pods on an empty node: after kube-reserved and the eviction threshold,
    and (unless `with_addon_daemons` is off, for a count that has them) the EKS add-ons' daemons' estimate."""
    table, row = _table(), spec(instance_type)
    reserved = table["kubeReservedMemoryMiB"]
    daemons = table["addonDaemons"] if with_addon_daemons else {"cpuMillis": 0, "memoryMiB": 0}
    memory_mib = (
        memory_seen_gib(instance_type) * 1024
        - (reserved["base"] + reserved["perPod"] * nodeadm_max_pods(instance_type))
        - table["evictionHardMemoryMiB"]
        - daemons["memoryMiB"]
    )
    shares = table["kubeReservedCpuShares"]
    reserved_cpu = sum(shares[: row["vcpu"]]) + max(0, row["vcpu"] - len(shares)) * table["kubeReservedCpuShareBeyond"]
    cpu = row["vcpu"] - reserved_cpu - daemons["cpuMillis"] / 1000
    return Allocatable(instance_type, cpu, memory_mib * MIB, nodeadm_max_pods(instance_type), row.get("gpus", 0))


def smallest(instance_types: list[str]) -> Allocatable:
    """The type that gives pods the least (by memory, then CPU): what a profile can count on in the group."""
    return min((allocatable(t) for t in instance_types), key=lambda a: (a.memory_bytes, a.cpu))


@dataclass(frozen=True)
class DiskRoom:
    """The disk that holds images and pods on a node, as a server's scratch sees it."""

    disk_gib: int
    system_bytes: float
    eviction_bytes: float
    images_bytes: float

    @property
    def pods_bytes(self) -> float:
        """What pods can write before the kubelet starts evicting: the disk less the system's files, the
        images the pullers keep and the eviction threshold. The scheduler does not see the images (its
        allocatable is the disk less the reservation and the threshold), so a fit check must."""
        return self.disk_gib * 1024**3 - self.system_bytes - self.images_bytes - self.eviction_bytes


def image_disk_bytes(size_gb: float | None) -> float:
    """What an image takes on a node's disk once unpacked, from its compressed size (GB; assumed if unknown)."""
    disk = _table()["nodeDisk"]
    return (disk["assumedImageGb"] if size_gb is None else size_gb) * 1e9 * disk["imageUnpackRatio"]


def disk_room(disk_gib: int, ami_type: str, image_sizes_gb: list[float | None]) -> DiskRoom:
    disk = _table()["nodeDisk"]
    system = next(gib for prefix, gib in disk["systemGiB"].items() if ami_type.startswith(prefix))
    eviction = disk_gib * 1024**3 * disk["evictionHardNodefsPercent"] / 100
    return DiskRoom(disk_gib, system * 1024**3, eviction, sum(image_disk_bytes(s) for s in image_sizes_gb))
