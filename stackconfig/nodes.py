"""Node groups in the stack config: roles, instance types, sizes, and the labels and taints each role implies."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from stackconfig import aws_catalog, instances
from stackconfig.types import (
    AmiType,
    CapacityType,
    ConfigModel,
    InstanceType,
    LabelKey,
    LabelValue,
    TaintEffect,
    unique,
)

# Labels and taints that tie node groups to JupyterHub's scheduling; every group of a role gets them.
NODE_PURPOSE_LABEL = "hub.jupyter.org/node-purpose"
NODE_GROUP_LABEL = "dandiarchive.org/node-group"
ACCELERATOR_LABEL = "k8s.amazonaws.com/accelerator"
USER_TAINT_KEY = "hub.jupyter.org/dedicated"
GPU_TAINT_KEY = "nvidia.com/gpu"

# Parallel image pull is nodeadm's FastImagePull feature gate (SOCI snapshotter, parallel pull and unpack;
# AL2023 EKS AMIs from v20250821). nodeadm silently ignores the gate on a node with fewer than 4 vCPUs or
# less than 7 GiB of memory as the kernel reports it (internal/containerd/config.go, UseSOCISnapshotter),
# and its docs ask for at least 600 MiB/s of root-volume throughput, below which pulls may get slower
# (nodeadm/doc/examples.md, "Enabling fast image pull"). Read at awslabs/amazon-eks-ami 81fec2e, 2026-07-23.
PARALLEL_PULL_MIN_VCPU = 4
PARALLEL_PULL_MIN_MEMORY_GIB = 7
PARALLEL_PULL_MIN_THROUGHPUT = 600
ImagePull = Literal["sequential", "parallel"]
# The disk each AMI family keeps images on, which the group's launch template sizes: the AL2023 root volume,
# Bottlerocket's data volume (its root holds only the OS). Other families (AL2, which EKS no longer offers
# for current versions; Windows; custom AMIs) are not built by this program.
IMAGE_DISKS = {"AL2023_": "/dev/xvda", "BOTTLEROCKET_": "/dev/xvdb"}
# gp3 allows at most 0.25 MiB/s of throughput per provisioned IOPS (EBS User Guide, gp3 volumes).
GP3_MIB_PER_IOPS = 0.25


class Taint(ConfigModel):
    """A node taint. `effect` uses the EKS API spelling (NO_SCHEDULE, NO_EXECUTE, PREFER_NO_SCHEDULE)."""

    key: LabelKey = Field(description="Taint key, a Kubernetes label key.")
    value: LabelValue = Field("", description="Taint value.")
    effect: TaintEffect = Field("NO_SCHEDULE", description="NO_SCHEDULE, NO_EXECUTE or PREFER_NO_SCHEDULE.")

    @property
    def kubernetes_effect(self) -> str:
        """The Kubernetes spelling of the effect (NoSchedule), as pods and ASG tags use it."""
        return "".join(part.capitalize() for part in self.effect.split("_"))


class NodeGroupConfig(ConfigModel):
    """One managed node group. `role` decides the JupyterHub labels and taints it gets."""

    role: Literal["core", "user", "gpu"] = Field(description="core (hub, proxy), user or gpu.")
    instance_types: list[InstanceType] = Field(min_length=1, description="EC2 instance types.")
    capacity_type: CapacityType = Field("ON_DEMAND", description="ON_DEMAND or SPOT (EKS API values).")
    min_size: int = Field(0, ge=0, description="Fewest nodes. Core >= 1; user and GPU 0.")
    desired_size: int | None = Field(None, ge=0, description="Initial nodes; defaults to min_size.")
    max_size: int = Field(ge=1, le=1000, description="Most nodes.")
    disk_size: int = Field(
        50,
        ge=20,
        le=16384,
        description="GiB of the disk that holds images and pods (AL2023: the root; Bottlerocket: the data "
        "volume). Default 50.",
    )
    ami_type: AmiType = Field("AL2023_x86_64_STANDARD", description="EKS AMI type (API value).")
    image_pull: ImagePull = Field(
        "sequential",
        description="parallel: the SOCI snapshotter pulls and unpacks layers in parallel (nodeadm's "
        "FastImagePull; AL2023, nodes of 4 vCPU and 8 GiB or more), with a faster disk. Default "
        "sequential (containerd's own pull).",
    )
    disk_throughput: int | None = Field(
        None,
        description=f"That disk's gp3 throughput, MiB/s. Default 125 (gp3 baseline); with imagePull "
        f"parallel, {PARALLEL_PULL_MIN_THROUGHPUT} or more (default {PARALLEL_PULL_MIN_THROUGHPUT}).",
    )
    labels: dict[LabelKey, LabelValue] = Field({}, description="Extra node labels.")
    taints: list[Taint] = Field([], description="Extra node taints.")
    accelerator: LabelValue | None = Field(None, description="GPU groups: the GPU, e.g. nvidia-tesla-t4.")
    gpus_per_node: int = Field(1, ge=1, le=16, description="GPU groups: GPUs per node. Default 1.")
    zones: int = Field(
        1,
        ge=1,
        le=6,
        description="Core only: one group per AZ in this many AZs, each with these sizes, so a lost node "
        "comes back in the zone of the volumes that need it. Default 1.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> NodeGroupConfig:
        problems = []
        unique(self.instance_types, "instance type")
        unlisted = [t for t in self.instance_types if t not in instances.known()]
        if unlisted:
            problems.append(
                f"{', '.join(unlisted)} not in stackconfig/instance_types.yaml; add vCPU, memory and max pods "
                "(dated, with the source) so profiles can be checked against the node"
            )
        if not self.min_size <= self.desired <= self.max_size:
            problems.append(
                f"sizes must satisfy minSize <= desiredSize <= maxSize, got "
                f"{self.min_size} <= {self.desired} <= {self.max_size}"
            )
        if self.role == "core" and self.min_size < 1:
            problems.append("the core group must keep at least one node (minSize >= 1)")
        if self.role != "core" and self.zones != 1:
            problems.append("`zones` is for the core group; user and GPU groups span every AZ")
        if self.role != "core" and self.min_size != 0:
            problems.append(f"{self.role} groups scale from zero: minSize must be 0")
        # The architecture of each listed type comes from the instance table (checked above).
        arch = "arm64" if aws_catalog.ami_is_arm(self.ami_type) else "x86_64"
        wrong_arch = [t for t in self.instance_types if t in instances.known() and instances.spec(t)["arch"] != arch]
        if wrong_arch:
            problems.append(f"{', '.join(wrong_arch)} do not match the {self.ami_type} architecture")
        if self.role == "gpu":
            if not aws_catalog.ami_is_nvidia(self.ami_type):
                nvidia = [a for a in aws_catalog.ami_types() if aws_catalog.ami_is_nvidia(a)]
                problems.append(f"a gpu group needs an NVIDIA AMI type, one of {', '.join(nvidia)}")
            no_gpu = [t for t in self.instance_types if not aws_catalog.has_nvidia_gpu(t)]
            if no_gpu:
                problems.append(f"{', '.join(no_gpu)} have no NVIDIA GPU (gpu groups need one)")
            if not self.accelerator:
                problems.append("a gpu group needs `accelerator` (e.g. nvidia-tesla-t4)")
        elif self.accelerator:
            problems.append("`accelerator` is only for gpu groups")
        problems += self._image_disk_problems()
        if self.role == "user" and self.capacity_type == "SPOT" and len(self.instance_types) < 2:
            problems.append(
                "SPOT user groups need at least two instance types, so one empty spot pool cannot block them"
            )
        sizes = {t.split(".", 1)[1] for t in self.instance_types}
        if self.role != "core" and len(sizes) > 1:
            problems.append(
                f"instance types of one group must share a size class so every node fits the same "
                f"profiles; got sizes {', '.join(sorted(sizes))}"
            )
        fixed = self.role_labels("x")
        clash = sorted(set(self.labels) & set(fixed))
        if clash:
            problems.append(f"labels {', '.join(clash)} are set by the {self.role} role and cannot be overridden")
        taint_keys = [t.key for t in self.all_taints]
        unique(taint_keys, "taint key")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _image_disk_problems(self) -> list[str]:
        problems = []
        if self.image_disk is None:
            families = ", ".join(f"{prefix}*" for prefix in IMAGE_DISKS)
            problems.append(f"amiType {self.ami_type} is not built by this program; use one of {families}")
        low, high = aws_catalog.gp3_range("Throughput")
        if self.disk_throughput is not None and not low <= self.disk_throughput <= high:
            problems.append(f"diskThroughput {self.disk_throughput} is outside gp3's {low}..{high} MiB/s")
        if self.image_pull == "parallel":
            if not self.ami_type.startswith("AL2023_"):
                problems.append(
                    f"imagePull parallel is nodeadm's FastImagePull, on AL2023 AMI types only, not {self.ami_type}"
                )
            too_small = [
                t
                for t in self.instance_types
                if t in instances.known()
                and (
                    instances.spec(t)["vcpu"] < PARALLEL_PULL_MIN_VCPU
                    or instances.memory_seen_gib(t) < PARALLEL_PULL_MIN_MEMORY_GIB
                )
            ]
            if too_small:
                problems.append(
                    f"imagePull parallel: nodeadm ignores it on {', '.join(too_small)} (it needs "
                    f"{PARALLEL_PULL_MIN_VCPU} vCPU and {PARALLEL_PULL_MIN_MEMORY_GIB} GiB seen by the kernel)"
                )
            if self.image_disk_throughput < PARALLEL_PULL_MIN_THROUGHPUT:
                problems.append(
                    f"imagePull parallel needs diskThroughput >= {PARALLEL_PULL_MIN_THROUGHPUT} MiB/s (nodeadm: "
                    f"below that, pulls may be slower than sequential), got {self.image_disk_throughput}"
                )
        return problems

    @property
    def image_disk(self) -> str | None:
        """The device of the disk that holds images and pods (see IMAGE_DISKS)."""
        return next((disk for prefix, disk in IMAGE_DISKS.items() if self.ami_type.startswith(prefix)), None)

    @property
    def image_disk_throughput(self) -> int:
        """gp3 throughput of the disk that holds images, MiB/s."""
        if self.disk_throughput is not None:
            return self.disk_throughput
        return PARALLEL_PULL_MIN_THROUGHPUT if self.image_pull == "parallel" else aws_catalog.gp3_range("Throughput")[0]

    @property
    def image_disk_iops(self) -> int:
        """The fewest gp3 IOPS that carry the throughput (gp3's baseline if that is enough)."""
        return max(aws_catalog.gp3_range("Iops")[0], math.ceil(self.image_disk_throughput / GP3_MIB_PER_IOPS))

    @property
    def desired(self) -> int:
        return self.min_size if self.desired_size is None else self.desired_size

    def role_labels(self, name: str) -> dict[str, str]:
        """The labels every group of this role carries (plus its own name)."""
        purpose = "core" if self.role == "core" else "user"
        labels = {NODE_PURPOSE_LABEL: purpose, NODE_GROUP_LABEL: name}
        if self.role == "gpu":
            labels[ACCELERATOR_LABEL] = self.accelerator or ""
        return labels

    def all_labels(self, name: str) -> dict[str, str]:
        return {**self.labels, **self.role_labels(name)}

    @property
    def all_taints(self) -> list[Taint]:
        """Role taints first: user nodes only take user pods, GPU nodes only pods that want a GPU."""
        role_taints = []
        if self.role in ("user", "gpu"):
            role_taints.append(Taint(key=USER_TAINT_KEY, value="user"))
        if self.role == "gpu":
            role_taints.append(Taint(key=GPU_TAINT_KEY, value="present"))
        return role_taints + list(self.taints)
