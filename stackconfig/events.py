"""Workshops and warm seats: servers kept ready for a profile, standing or between an event's dates."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from stackconfig import instances
from stackconfig.nodes import NodeGroupConfig
from stackconfig.profiles import ProfileConfig, memory_bytes
from stackconfig.types import ConfigModel, DnsLabel

if TYPE_CHECKING:
    from stackconfig.hub import HubConfig


class EventConfig(ConfigModel):
    """A workshop or tutorial: during its dates its seats are warm and its profile is listed."""

    name: DnsLabel = Field(description="Short name of the event.")
    profile: str = Field(description="The profile (by slug) its attendees use; on an on-demand group.")
    seats: int = Field(ge=1, le=500, description="Servers kept ready during the event.")
    start: datetime.date = Field(description="First day (UTC), YYYY-MM-DD.")
    end: datetime.date = Field(description="Last day (UTC), YYYY-MM-DD.")
    group: DnsLabel | None = Field(
        None, description="The attendees' group: only they get the profile from the event. Default: the profile's own."
    )

    @model_validator(mode="after")
    def _dates(self) -> EventConfig:
        if self.end < self.start:
            raise ValueError(f"ends ({self.end}) before it starts ({self.start})")
        return self

    def active(self, day: datetime.date) -> bool:
        return self.start <= day <= self.end


def seats_per_node(profile: ProfileConfig, group: NodeGroupConfig) -> int:
    """Servers of the profile that fit an empty node of the group's smallest type (by their guarantees)."""
    node = instances.smallest(list(group.instance_types))
    fits = [int(node.cpu // profile.cpu.guarantee), int(node.memory_bytes // memory_bytes(profile.memory.guarantee))]
    if profile.gpus:
        fits.append(node.gpus // profile.gpus)
    return max(1, min(fits))


def seats_beyond_max_size(hub: HubConfig, node_groups: dict[str, NodeGroupConfig]) -> list[tuple[str, str]]:
    """Seats the autoscaler could never place: more nodes than the group's maxSize, with nobody told.
    Seats only grow on an event's first day, so the standing seats and each first day are the peaks."""
    peaks = [("hub.warmSeats", "the standing warm seats", datetime.date.min)]
    peaks += [(f"hub.events[{i}].seats", f"event {e.name!r} on {e.start}", e.start) for i, e in enumerate(hub.events)]
    problems = []
    for path, what, day in peaks:
        for group, count in hub.seat_nodes(day, node_groups).items():
            limit = node_groups[group].max_size
            if count > limit:
                problems.append(
                    (
                        path,
                        f"{what}: the seats on {group!r} that day ({hub.seats(day)}) need {count} nodes, "
                        f"but nodeGroups.{group}.maxSize is {limit}; raise maxSize or keep fewer seats",
                    )
                )
    return problems
