"""Allowed values taken from the AWS API models that botocore ships, so checks follow AWS, not us.

Every list here is read from a service model (`ec2`, `eks`, `efs`) or botocore's endpoint data. The
only hand-kept fact is which EC2 families carry NVIDIA GPUs, which no API model records.
"""

from __future__ import annotations

import difflib
import functools
import re

import botocore.session

# EC2 families with NVIDIA GPUs (g4ad carries AMD GPUs and is left out on purpose).
NVIDIA_GPU_FAMILIES = frozenset(
    {
        "g4dn",
        "g5",
        "g5g",
        "g6",
        "g6e",
        "g6f",
        "gr6",
        "gr6f",
        "g7e",
        "p3",
        "p3dn",
        "p4d",
        "p4de",
        "p5",
        "p5e",
        "p5en",
        "p6-b200",
        "p6-b300",
        "p6e-gb200",
    }
)


@functools.cache
def _model(service: str):
    return botocore.session.get_session().get_service_model(service)


@functools.cache
def enum(service: str, shape: str) -> tuple[str, ...]:
    """The allowed values of one enum shape in a botocore service model."""
    values = _model(service).shape_for(shape).enum
    if not values:
        raise LookupError(f"botocore's {service} model has no enum {shape}")
    return tuple(values)


@functools.cache
def pattern(service: str, shape: str) -> re.Pattern[str]:
    """The regular expression a string shape of a botocore service model must match."""
    found = _model(service).shape_for(shape).metadata.get("pattern")
    if not found:
        raise LookupError(f"botocore's {service} model has no pattern for {shape}")
    return re.compile(found)


def instance_types() -> tuple[str, ...]:
    return enum("ec2", "InstanceType")


def ami_types() -> tuple[str, ...]:
    return enum("eks", "AMITypes")


def capacity_types() -> tuple[str, ...]:
    return enum("eks", "CapacityTypes")


def taint_effects() -> tuple[str, ...]:
    return enum("eks", "TaintEffect")


def log_types() -> tuple[str, ...]:
    return enum("eks", "LogType")


def support_types() -> tuple[str, ...]:
    return enum("eks", "SupportType")


def efs_performance_modes() -> tuple[str, ...]:
    return enum("efs", "PerformanceMode")


def efs_throughput_modes() -> tuple[str, ...]:
    return enum("efs", "ThroughputMode")


def efs_ia_transitions() -> tuple[str, ...]:
    return enum("efs", "TransitionToIARules")


@functools.cache
def gp3_range(member: str) -> tuple[int, int]:
    """A gp3 volume's allowed `Iops` or `Throughput` (MiB/s), as the EC2 model's launch-template docs state
    them; the model carries no numeric bounds, only this text."""
    text = _model("ec2").shape_for("LaunchTemplateEbsBlockDeviceRequest").members[member].documentation
    pattern = (
        r"gp3</code>: ([\d,]+) - ([\d,]+) IOPS"
        if member == "Iops"
        else r"Minimum value of ([\d,]+)\. Maximum value of ([\d,]+)"
    )
    found = re.search(pattern, text)
    if not found:
        raise LookupError(f"botocore's ec2 model no longer states the gp3 {member} range")
    low, high = (int(n.replace(",", "")) for n in found.groups())
    return low, high


@functools.cache
def regions() -> tuple[str, ...]:
    """Commercial regions where EKS is offered, from botocore's endpoint data."""
    return tuple(botocore.session.get_session().get_available_regions("eks", "aws"))


def family(instance_type: str) -> str:
    return instance_type.split(".", 1)[0]


def has_nvidia_gpu(instance_type: str) -> bool:
    return family(instance_type) in NVIDIA_GPU_FAMILIES


def ami_is_arm(ami_type: str) -> bool:
    return "ARM" in ami_type


def ami_is_nvidia(ami_type: str) -> bool:
    return "NVIDIA" in ami_type


def not_allowed(value: object, allowed: tuple[str, ...] | list[str], what: str) -> str:
    """An error text: the bad value, a did-you-mean for near misses, and what is allowed."""
    text = f"{value!r} is not a valid {what}"
    folded = {_fold(a): a for a in allowed}
    close = (
        [folded[_fold(str(value))]]
        if _fold(str(value)) in folded
        else difflib.get_close_matches(str(value), allowed, n=3, cutoff=0.6)
    )
    if close:
        text += f"; did you mean {' or '.join(repr(c) for c in close)}?"
    if len(allowed) <= 30:
        text += f" Allowed: {', '.join(allowed)}"
    else:
        text += f" ({len(allowed)} values are allowed, from botocore's AWS API model)"
    return text


def _fold(text: str) -> str:
    """Spelling that ignores case and separators: NoSchedule ~ NO_SCHEDULE."""
    return "".join(c for c in text.lower() if c.isalnum())


def check_in(value: str, allowed: tuple[str, ...], what: str) -> str:
    """`value` if allowed, else a ValueError with the `not_allowed` text."""
    if value not in allowed:
        raise ValueError(not_allowed(value, allowed, what))
    return value
