"""Whether a pod fits an empty node of a group (the placement rules themselves are offline/scheduling.py)."""

from __future__ import annotations

from typing import Any

from offline.scheduling import NodeGroup, can_land, landing_groups, node_groups, quantity, requests
from stackconfig import instances

__all__ = ["NodeGroup", "can_land", "landing_groups", "limits", "node_groups", "quantity", "requests", "room_left"]


def limits(spec: dict[str, Any]) -> dict[str, float]:
    total: dict[str, float] = {}
    for container in spec.get("containers") or []:
        for resource, value in ((container.get("resources") or {}).get("limits") or {}).items():
            total[resource] = total.get(resource, 0.0) + quantity(value)
    return total


def room_left(spec: dict[str, Any], group: NodeGroup, daemons: list[dict[str, Any]]) -> dict[str, float]:
    """What an empty node of the group's smallest type has left after the pod's requests and limits and the
    chart daemons that land there (negative: it does not fit)."""
    node = instances.smallest(group.instance_types)
    used = {"cpu": 0.0, "memory": 0.0}
    for daemon in daemons:
        if can_land(daemon, group):
            for resource, value in requests(daemon).items():
                used[resource] = used.get(resource, 0.0) + value
    pod = requests(spec)
    top = limits(spec)
    return {
        "cpu": node.cpu - used["cpu"] - max(pod.get("cpu", 0.0), top.get("cpu", 0.0)),
        "memory": node.memory_bytes - used["memory"] - max(pod.get("memory", 0.0), top.get("memory", 0.0)),
        "nvidia.com/gpu": node.gpus - top.get("nvidia.com/gpu", 0.0),
    }
