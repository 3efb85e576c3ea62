"""Time to notebook: how long a user waits for each profile's server, on a warm node (a node with room and
the image, or a placeholder's seat) and on a cold one (a new node: autoscaler, boot and join, image pull,
start), from the dated figures in stackconfig/start_timings.yaml, each image's size from config and the
pull mode (imagePull) of the profile's node group."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stackconfig.nodes import ImagePull
from stackconfig.stack import StackConfig

PULL_RATE: dict[ImagePull, str] = {"sequential": "pull_mb_per_s", "parallel": "parallel_pull_mb_per_s"}

TABLE = Path(__file__).resolve().parent.parent / "stackconfig" / "start_timings.yaml"


@functools.cache
def table() -> dict[str, Any]:
    return yaml.safe_load(TABLE.read_text())


def figure(name: str) -> float:
    return float(table()["figures"][name]["value"])


@dataclass(frozen=True)
class Wait:
    profile: str
    image: str
    pull: ImagePull
    warm_seconds: float
    cold_seconds: float | None  # None: the image's size is not in config


def pull_seconds(size_gb: float, pull: ImagePull) -> float:
    return size_gb * 1000 / figure(PULL_RATE[pull])


def cold(size_gb: float, pull: ImagePull) -> float:
    return (
        figure("autoscaler_reaction") + figure("node_boot_join") + pull_seconds(size_gb, pull) + figure("server_start")
    )


def waits(config: StackConfig) -> list[Wait]:
    found = []
    warm = figure("schedule") + figure("server_start")
    for profile in config.hub.profiles:
        pull = config.node_groups[profile.node_group].image_pull
        for key in profile.images:
            size = config.hub.images[key].size_gb
            found.append(Wait(profile.slug, key, pull, warm, None if size is None else cold(size, pull)))
    return found


def render(config: StackConfig) -> str:
    goals = table()["goals"]
    lines = [f"Time to notebook (figures of {table()['checked']}: stackconfig/start_timings.yaml):"]
    for w in waits(config):
        cold_text = f"{w.cold_seconds:.0f} s" if w.cold_seconds is not None else "unknown (no image size in config)"
        lines.append(
            f"  {w.profile + ' / ' + w.image:<40} warm {w.warm_seconds:.0f} s, cold {cold_text}, {w.pull} pull"
        )
    lines.append(
        f"  goals: warm under {goals['warm_seconds']} s; cold under {goals['cold_seconds']} s for a "
        f"{goals['cold_image_gb']} GB image, which takes"
    )
    groups: dict[ImagePull, set[str]] = {}
    for profile in config.hub.profiles:
        groups.setdefault(config.node_groups[profile.node_group].image_pull, set()).add(profile.node_group)
    for pull in sorted(groups, reverse=True):
        reference = cold(goals["cold_image_gb"], pull)
        verdict = (
            "met" if reference <= goals["cold_seconds"] else f"missed by {reference - goals['cold_seconds']:.0f} s"
        )
        lines.append(f"    {reference:.0f} s with {pull} pull ({', '.join(sorted(groups[pull]))}): {verdict}")
    return "\n".join(lines)
