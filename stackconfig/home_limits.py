"""Soft and hard limits on each user's home, with per-user and per-group overrides, and the small cleanup
profile that is all a user over the hard limit may start (values/home_limits.py applies them in the hub)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from stackconfig import instances
from stackconfig.profiles import ProfileConfig, misfits
from stackconfig.types import ConfigModel

if TYPE_CHECKING:
    from stackconfig.stack import StackConfig

# The profile the program adds for users over their hard limit (no configured profile may take the slug).
CLEANUP_SLUG = "cleanup"


class LimitsOverride(ConfigModel):
    """Limits for one user or group; a limit left out is the stack's (homes.softLimitGib, homes.hardLimitGib)."""

    soft_limit_gib: float | None = Field(None, gt=0, description="Soft limit, GiB. Default: homes.softLimitGib.")
    hard_limit_gib: float | None = Field(None, gt=0, description="Hard limit, GiB. Default: homes.hardLimitGib.")


def filled(override: LimitsOverride, soft: float, hard: float) -> tuple[float, float]:
    """The override's (soft, hard), the stack's limits where it names none."""
    return (
        soft if override.soft_limit_gib is None else override.soft_limit_gib,
        hard if override.hard_limit_gib is None else override.hard_limit_gib,
    )


def limit_problems(config: StackConfig) -> list[tuple[str, str]]:
    """Each soft limit below its hard one (overrides filled in with the stack's limits), login keys named once,
    no configured profile called `cleanup`, and the cleanup profile fitting its node group."""
    homes = config.homes
    soft, hard = homes.soft_limit_gib, homes.hard_limit_gib
    problems = []
    if hard <= soft:
        problems.append(("homes.hardLimitGib", f"{hard:g} must be above homes.softLimitGib ({soft:g})"))
    overrides = [(f"homes.users.{login}", o) for login, o in homes.users.items()]
    overrides += [
        (f"hub.groups.{name}.homeLimits", g.home_limits)
        for name, g in config.hub.groups.items()
        if g.home_limits is not None
    ]
    for key, override in overrides:
        own_soft, own_hard = filled(override, soft, hard)
        if own_hard <= own_soft:
            problems.append(
                (
                    key,
                    f"soft limit {own_soft:g} GiB is not below hard limit {own_hard:g} GiB (a limit left out is "
                    f"the stack's: softLimitGib {soft:g}, hardLimitGib {hard:g}); the hard limit must be higher",
                )
            )
    lowered = [login.lower() for login in homes.users]
    for login in homes.users:
        if lowered.count(login.lower()) > 1:
            problems.append((f"homes.users.{login}", "named twice (the hub compares logins in lower case)"))
    if any(p.slug == CLEANUP_SLUG for p in config.hub.profiles):
        problems.append(("hub.profiles", f"the slug {CLEANUP_SLUG!r} is the program's cleanup profile; rename yours"))
    profile = cleanup_profile(config)
    if profile is not None:
        group = config.node_groups[profile.node_group]
        images = config.hub.images_by_group().get(profile.node_group, [])
        problems += [(f"homes (cleanup profile).{key}", message) for key, message in misfits(profile, group, images)]
    return problems


def cleanup_group(config: StackConfig) -> str | None:
    """The user node group with the smallest nodes that a profile already runs on (its images are on its nodes)."""
    used = {p.node_group for p in config.hub.profiles}
    groups = [
        name
        for name, group in config.node_groups.items()
        if group.role == "user" and name in used and set(group.instance_types) <= set(instances.known())
    ]
    if not groups:
        return None

    def size(name: str) -> tuple[float, float]:
        node = instances.smallest(list(config.node_groups[name].instance_types))
        return node.memory_bytes, node.cpu

    return min(groups, key=size)


def cleanup_profile(config: StackConfig) -> ProfileConfig | None:
    """What a user over the hard limit may start: the home mounted, no GPU, the smallest user nodes, a
    quarter to one CPU and 0.5-2 GiB, with the image of the first profile on those nodes (already pulled there).
    None when the stack has no user group a profile runs on (the stack's own checks say so)."""
    group = cleanup_group(config)
    if group is None:
        return None
    image = next(p.images[0] for p in config.hub.profiles if p.node_group == group)
    return ProfileConfig.model_validate(
        {
            "slug": CLEANUP_SLUG,
            "displayName": "Cleanup (your home is over its hard limit)",
            "description": "0.25-1 CPU, 512M-2G memory: enough to look through your home and delete or move files",
            "nodeGroup": group,
            "cpu": {"guarantee": 0.25, "limit": 1},
            "memory": {"guarantee": "512M", "limit": "2G"},
            "scratch": {"guarantee": "1G", "limit": "2G"},
            "images": [image],
            "default": True,
        }
    )


def lowest_soft_limit(config: StackConfig) -> float:
    """The lowest soft limit any user has (the stack's, a user's or a group's)."""
    homes = config.homes
    overrides = [*homes.users.values(), *(g.home_limits for g in config.hub.groups.values() if g.home_limits)]
    return min([homes.soft_limit_gib, *(filled(o, homes.soft_limit_gib, homes.hard_limit_gib)[0] for o in overrides)])
