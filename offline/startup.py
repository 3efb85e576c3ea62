"""Time to notebook: how long a user waits for each profile's server, on a warm node (a node with room and
the image, or a placeholder's seat) and on a cold one (a new node: autoscaler, boot and join, image pull,
start), from the dated figures in stackconfig/start_timings.yaml and stackconfig/instance_types.yaml and each
image's size from config.

A cold pull goes as fast as the slowest link on its real path: the registry and its route (Docker Hub
through the stack's NAT, or the Docker Hub mirror in ECR with its layers through the S3 endpoint), the new
node's baseline network and EBS bandwidth (for a group of several types, the slowest type it may get), the
throughput of the group's disk, and the unpack rate of the group's pull mode. The link that sets the time
is printed with it; a path through a link without a published figure (Docker Hub) has an unknown time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stackconfig import instances
from stackconfig.nodes import ImagePull
from stackconfig.stack import StackConfig

PULL_RATE: dict[ImagePull, str] = {"sequential": "pull_mb_per_s", "parallel": "parallel_pull_mb_per_s"}
MIB_IN_MB = 1.048576

TABLE = Path(__file__).resolve().parent.parent / "stackconfig" / "start_timings.yaml"


@functools.cache
def table() -> dict[str, Any]:
    return yaml.safe_load(TABLE.read_text())


def figure(name: str) -> float:
    return float(table()["figures"][name]["value"])


@dataclass(frozen=True)
class Link:
    """One stage of a pull, and how many MB/s it carries: None when nothing published applies; with
    `at_least`, the figure is what it was seen to carry, not its limit."""

    name: str
    mb_per_s: float | None
    at_least: bool = False

    def __str__(self) -> str:
        if self.mb_per_s is None:
            return f"{self.name} (no published rate)"
        return f"{self.name} ({'at least ' if self.at_least else ''}{self.mb_per_s:.0f} MB/s)"


@dataclass(frozen=True)
class Pull:
    """The links of a cold pull on a group, the slowest of them, and whether the time is known."""

    links: tuple[Link, ...]

    @property
    def limits(self) -> list[Link]:
        return [link for link in self.links if link.mb_per_s is not None and not link.at_least]

    @property
    def slowest(self) -> Link:
        return min(self.limits, key=lambda link: link.mb_per_s or 0.0)

    @property
    def known(self) -> bool:
        """Known when every link without a limit is seen to carry at least what the slowest limit does."""
        rate = self.slowest.mb_per_s or 0.0
        return all(link.mb_per_s is not None and (not link.at_least or link.mb_per_s >= rate) for link in self.links)

    def seconds(self, size_gb: float) -> float:
        return size_gb * 1000 / (self.slowest.mb_per_s or 1.0)


def _mbit(instance_type: str, key: str) -> float | None:
    if instance_type not in instances.known():
        return None
    value = instances.spec(instance_type).get(key)
    return None if value is None else value / 8


def _route(config: StackConfig) -> Link:
    """The stack's way out of the VPC: its NAT gateway or NAT instance, or an existing VPC's."""
    network = config.network
    if network.existing:
        return Link("the existing VPC's NAT", None)
    if network.nat_gateways == "instance":
        kind = network.nat_instance_type
        mbps = instances.nat_network_mbps(kind)
        return Link(f"NAT instance {kind} baseline network", None if mbps is None else mbps / 8)
    return Link("NAT gateway", figure("nat_gateway_mb_per_s"))


def registry_links(config: StackConfig) -> list[Link]:
    """From the registry to the node's network interface."""
    if not config.hub.docker_hub_mirror.enabled:
        return [Link("Docker Hub", None), _route(config)]
    ecr = Link("ECR in the region", figure("ecr_in_region_at_least_mb_per_s"), at_least=True)
    return [ecr] if config.network.s3_endpoint else [ecr, _route(config)]


def node_links(config: StackConfig, group_name: str) -> list[Link]:
    """From the node's network interface to an unpacked image on its disk."""
    group = config.node_groups[group_name]
    found = []
    for key, what in (("networkMbps", "baseline network"), ("ebsMbps", "baseline EBS bandwidth")):
        rates = {t: _mbit(t, key) for t in group.instance_types}
        if None in rates.values():
            unknown = sorted(t for t, r in rates.items() if r is None)
            found.append(Link(f"{what} of {', '.join(unknown)} (not in the instance table)", None))
        else:
            slowest = min(rates, key=lambda t: rates[t] or 0.0)
            found.append(Link(f"{slowest} {what}", rates[slowest]))
    found.append(Link(f"gp3 disk at {group.image_disk_throughput} MiB/s", group.image_disk_throughput * MIB_IN_MB))
    found.append(Link(f"{group.image_pull} unpack", figure(PULL_RATE[group.image_pull])))
    return found


def pull(config: StackConfig, group_name: str) -> Pull:
    return Pull((*registry_links(config), *node_links(config, group_name)))


@dataclass(frozen=True)
class Wait:
    profile: str
    image: str
    group: str
    pull: ImagePull
    warm_seconds: float
    cold_seconds: float | None  # None: the image's size is not in config, or a link has no figure
    bottleneck: Link  # the slowest link with a figure
    why_unknown: str = ""
    # With a link of no known rate: the cold wait is still at least this (the other links' bound).
    at_least_seconds: float | None = None


def cold(size_gb: float, path: Pull) -> float:
    return figure("autoscaler_reaction") + figure("node_boot_join") + path.seconds(size_gb) + figure("server_start")


def waits(config: StackConfig) -> list[Wait]:
    found = []
    warm = figure("schedule") + figure("server_start")
    for profile in config.hub.profiles:
        group = config.node_groups[profile.node_group]
        path = pull(config, profile.node_group)
        for key in profile.images:
            size = config.hub.images[key].size_gb
            why = "" if size is not None else "no image size in config"
            if not path.known:
                why = "; ".join(filter(None, [why, ", ".join(str(x) for x in path.links if x.mb_per_s is None)]))
            bound = cold(size, path) if size is not None else None
            found.append(
                Wait(
                    profile.slug, key, profile.node_group, group.image_pull, warm,
                    bound if path.known else None, path.slowest, why, None if path.known else bound,
                )
            )  # fmt: skip
    return found


def render(config: StackConfig) -> str:
    goals = table()["goals"]
    lines = [
        f"Time to notebook (figures of {table()['checked']}: stackconfig/start_timings.yaml; instance bandwidths "
        f"of {instances.checked()}: stackconfig/instance_types.yaml):"
    ]
    for w in waits(config):
        cold_text = f"{w.cold_seconds:.0f} s" if w.cold_seconds is not None else f"unknown ({w.why_unknown})"
        if w.at_least_seconds is not None:
            cold_text += f", at least {w.at_least_seconds:.0f} s"
        lines.append(
            f"  {w.profile + ' / ' + w.image:<24} warm {w.warm_seconds:.0f} s, cold {cold_text}, {w.pull} pull; "
            f"slowest link: {w.bottleneck}"
        )
    lines.append(
        f"  goals: warm under {goals['warm_seconds']} s; cold under {goals['cold_seconds']} s for a "
        f"{goals['cold_image_gb']} GB image, which takes"
    )
    for group_name in sorted({p.node_group for p in config.hub.profiles}):
        path = pull(config, group_name)
        reference = cold(goals["cold_image_gb"], path)
        if path.known:
            verdict = (
                "met" if reference <= goals["cold_seconds"] else f"missed by {reference - goals['cold_seconds']:.0f} s"
            )
            lines.append(f"    {reference:.0f} s on {group_name} (slowest link: {path.slowest}): {verdict}")
        else:
            # Unknown links can only slow it further: past the goal already, the verdict stands.
            verdict = (
                f"missed by at least {reference - goals['cold_seconds']:.0f} s"
                if reference > goals["cold_seconds"]
                else "unknown"
            )
            unknown = ", ".join(str(x) for x in path.links if x.mb_per_s is None)
            lines.append(
                f"    at least {reference:.0f} s on {group_name} (slowest known link: {path.slowest}; {unknown}): "
                f"{verdict}"
            )
    return "\n".join(lines)
