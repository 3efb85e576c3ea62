"""The server menu: profiles, their CPU, memory and scratch ranges, and whether a server fits its node group."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from stackconfig import instances
from stackconfig.images import ImageConfig
from stackconfig.nodes import NodeGroupConfig
from stackconfig.types import ConfigModel, DnsLabel, unique

if TYPE_CHECKING:
    from stackconfig.hub import HubConfig

_MEMORY = re.compile(r"^(\d+(\.\d+)?)([KMGT])$")

# Each user pod carries its profile's slug, so its start time can be compared with the plan's (alerts).
PROFILE_LABEL = "dandiarchive.org/profile"


def memory_bytes(value: str) -> float:
    """KubeSpawner's byte sizes: K, M, G, T are powers of 1024."""
    match = _MEMORY.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a memory size like 512M or 16G (suffix K, M, G or T)")
    return float(match.group(1)) * 1024 ** "KMGT".index(match.group(3)) * 1024


class CpuRange(ConfigModel):
    guarantee: float = Field(gt=0, le=512, description="CPUs reserved for the server.")
    limit: float = Field(gt=0, le=512, description="CPUs it may use at most.")


class MemoryRange(ConfigModel):
    guarantee: str = Field(description="Memory reserved, e.g. 16G (K, M, G, T are powers of 1024).")
    limit: str = Field(description="Memory at most; beyond it the kernel is killed.")

    @field_validator("guarantee", "limit")
    @classmethod
    def _size(cls, value: str) -> str:
        memory_bytes(value)
        return value


# What a server writes besides /scratch and its home, to the image's writable layer and its logs: counted with
# /scratch in the pod's ephemeral-storage limit.
CONTAINER_FILES = "2G"


class ScratchRange(MemoryRange):
    """The server's node-local /scratch: fast, emptied when the server stops."""

    guarantee: str = Field("2G", description="Disk the scheduler reserves for the server. Default 2G.")
    limit: str = Field(
        "20G",
        description="Size of /scratch. A server that writes more is stopped by the kubelet (its home is kept). "
        "Default 20G.",
    )


class ProfileConfig(ConfigModel):
    """One entry of the server menu; its node group decides where its pods run."""

    slug: DnsLabel = Field(description="Stable id of the profile.")
    display_name: str = Field(min_length=1, description="Name shown in the menu.")
    description: str = Field("", description="Text shown under the name.")
    node_group: str = Field(description="The node group (by name) this profile's servers run on.")
    cpu: CpuRange = Field(description="CPU guarantee and limit.")
    memory: MemoryRange = Field(description="Memory guarantee and limit.")
    gpus: int = Field(0, ge=0, le=8, description="GPUs; only on gpu groups.")
    scratch: ScratchRange = Field(
        ScratchRange(), description="Node-local /scratch, reserved and at most (K, M, G, T are powers of 1024)."
    )
    images: list[str] = Field(min_length=1, description="Keys of hub.images offered; the first is the default.")
    listed: Literal["always", "duringEvents"] = Field(
        "always", description="In the menu always, or only while an event (hub.events) names it."
    )
    default: bool = Field(False, description="Preselected in the menu (one profile at most).")
    groups: list[DnsLabel] | None = Field(
        None,
        min_length=1,
        description="The groups (hub.groups, or archive-<archive>) whose members may use it. Default: everyone.",
    )
    other_images: str | None = Field(
        None,
        description="Let users name an image that is not in the menu, if it matches this anchored regular "
        "expression (registries and repositories allowed), e.g. ^docker\\.io/dandiarchive/[a-z0-9-]+:[\\w.-]+$. "
        "Default: off.",
    )

    @field_validator("other_images")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"{value!r} is not a regular expression ({error})") from None
        if not (value.startswith("^") and value.endswith("$")) or ".*" in value or value in ("^.+$", "^.*$"):
            raise ValueError(
                f"{value!r} must be anchored (^...$) and name the registries and repositories allowed, not any image"
            )
        return value

    @model_validator(mode="after")
    def _ranges(self) -> ProfileConfig:
        if self.cpu.guarantee > self.cpu.limit:
            raise ValueError(f"cpu guarantee {self.cpu.guarantee} exceeds its limit {self.cpu.limit}")
        if memory_bytes(self.memory.guarantee) > memory_bytes(self.memory.limit):
            raise ValueError(f"memory guarantee {self.memory.guarantee} exceeds its limit {self.memory.limit}")
        if memory_bytes(self.scratch.guarantee) > memory_bytes(self.scratch.limit):
            raise ValueError(f"scratch guarantee {self.scratch.guarantee} exceeds its limit {self.scratch.limit}")
        unique(self.images, "image")
        return self

    @property
    def disk_request_bytes(self) -> int:
        """The server's ephemeral-storage request: its scratch guarantee."""
        return int(memory_bytes(self.scratch.guarantee))

    @property
    def disk_limit_bytes(self) -> int:
        """The server's ephemeral-storage limit: /scratch and the container's own files."""
        return int(memory_bytes(self.scratch.limit) + memory_bytes(CONTAINER_FILES))


def _profile(
    slug: str, name: str, group: str, cpu: tuple[float, float], mem: tuple[str, str], **extra: object
) -> ProfileConfig:
    return ProfileConfig.model_validate(
        {
            "slug": slug,
            "displayName": name,
            "description": f"{cpu[0]:g}-{cpu[1]:g} CPU, {mem[0]}-{mem[1]} memory",
            "nodeGroup": group,
            "cpu": {"guarantee": cpu[0], "limit": cpu[1]},
            "memory": {"guarantee": mem[0], "limit": mem[1]},
            "images": ["standard", "matlab"],
            **extra,
        }
    )


# The old deployment's menu. MATLAB is now an image choice rather than a profile of its own; small
# profiles get small nodes so a Tiny server never brings up a 32-CPU machine. Limits stay within what
# the smallest node of the group gives pods (8-vCPU, 32 GiB nodes: 7.7 CPU, 28.3 GiB; 32-vCPU, 128 GiB
# nodes: 31.6 CPU, 115 GiB), so one busy server cannot push its node into evicting the others.
DEFAULT_PROFILES = [
    _profile("tiny", "Tiny", "user-small", (0.25, 2), ("512M", "2G")),
    _profile("base", "Base", "user-small", (6, 7.5), ("16G", "28G"), default=True),
    _profile("medium", "Medium", "user-large", (12, 24), ("32G", "64G")),
    _profile("large", "Large", "user-large", (24, 31), ("64G", "96G")),
    _profile("gpu", "T4 GPU for inference", "gpu", (6, 7.5), ("24G", "28G"), gpus=1, images=["gpu"]),
]


def misfits(profile: ProfileConfig, group: NodeGroupConfig, images: list[ImageConfig]) -> list[tuple[str, str]]:
    """Where a server of the profile does not fit an empty node of the group's smallest instance type, whose
    disk also holds `images` (those the group's puller keeps)."""
    if not set(group.instance_types) <= set(instances.known()):
        return []  # the node group's own check names the unknown types
    node = instances.smallest(list(group.instance_types))
    where = (
        f"for profile {profile.slug!r} does not fit node group {profile.node_group!r}: its smallest type "
        f"{node.instance_type} gives pods {node.cpu:.2f} CPU and {node.memory_gib:.1f} GiB (after the VM "
        "overhead, the kubelet's reservation and eviction threshold, and the add-on daemons; "
        "stackconfig/instance_types.yaml)"
    )
    found = [
        (f"cpu.{kind}", f"{value:g} CPU {where}")
        for kind, value in (("guarantee", profile.cpu.guarantee), ("limit", profile.cpu.limit))
        if value > node.cpu
    ]
    found += [
        (f"memory.{kind}", f"{value} ({memory_bytes(value) / 1024**3:.1f} GiB) {where}")
        for kind, value in (("guarantee", profile.memory.guarantee), ("limit", profile.memory.limit))
        if memory_bytes(value) > node.memory_bytes
    ]
    if profile.gpus > node.gpus:
        found.append(("gpus", f"{profile.gpus} GPUs {where.split(' gives')[0]} has {node.gpus}"))
    disk = instances.disk_room(group.disk_size, group.ami_type, [i.size_gb for i in images])
    if profile.disk_limit_bytes > disk.pods_bytes:
        found.append(
            (
                "scratch.limit",
                f"{profile.scratch.limit} of scratch and {CONTAINER_FILES} for the container's own files "
                f"({profile.disk_limit_bytes / 1024**3:.1f} GiB) for profile {profile.slug!r} do not fit node "
                f"group {profile.node_group!r}: its {group.disk_size} GiB disk leaves pods "
                f"{disk.pods_bytes / 1024**3:.1f} GiB after the system's files, the kubelet's eviction threshold "
                f"and the {len(images)} images its puller keeps ({disk.images_bytes / 1024**3:.1f} GiB unpacked; "
                "sizeGb of each image, stackconfig/instance_types.yaml nodeDisk). Raise diskSize or lower the limit",
            )
        )
    return found


def profile_problems(hub: HubConfig, node_groups: dict[str, NodeGroupConfig]) -> list[tuple[str, str]]:
    """Profiles on a missing or wrong node group, too big for it, or offering images hub.images lacks."""
    problems = []
    for i, profile in enumerate(hub.profiles):
        where = f"hub.profiles[{i}]"
        group = node_groups.get(profile.node_group)
        if group is None:
            problems.append(
                (
                    f"{where}.nodeGroup",
                    f"{profile.node_group!r} is not a node group; groups: {', '.join(node_groups)}",
                )
            )
        elif group.role == "core":
            problems.append(
                (
                    f"{where}.nodeGroup",
                    f"{profile.node_group!r} is the core group; user servers need a user or gpu group",
                )
            )
        elif (group.role == "gpu") != (profile.gpus > 0):
            problems.append(
                (
                    f"{where}.gpus",
                    f"profiles with gpus > 0 belong on a gpu group and only those; "
                    f"{profile.node_group!r} is a {group.role} group",
                )
            )
        else:
            images = hub.images_by_group().get(profile.node_group, [])
            problems += [(f"{where}.{key}", message) for key, message in misfits(profile, group, images)]
        missing = [image for image in profile.images if image not in hub.images]
        if missing:
            problems.append((f"{where}.images", f"{', '.join(missing)} not in hub.images ({', '.join(hub.images)})"))
    return problems
