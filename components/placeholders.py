"""Warm seats: pause pods that hold exactly what a server of a profile requests, on that profile's node
group, at the chart's placeholder priority (below every real server, so a server that needs the room
evicts one and starts at once, and the autoscaler brings up a node for the evicted seat)."""

from __future__ import annotations

from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from components.images import PAUSE
from stackconfig.hub import ProfileConfig, memory_bytes
from stackconfig.nodes import NODE_GROUP_LABEL, NodeGroupConfig

# The chart's names (z2jh with release `jupyterhub`): the placeholder priority and the user scheduler.
PRIORITY_CLASS = "jupyterhub-user-placeholder-priority"
SCHEDULER = "jupyterhub-user-scheduler"


def server_requests(profile: ProfileConfig) -> dict[str, float | int]:
    """What a server of the profile requests, as KubeSpawner writes it (memory in bytes, K/M/G/T = 1024^n)."""
    return {"cpu": profile.cpu.guarantee, "memory": int(memory_bytes(profile.memory.guarantee))}


def tolerations(group: NodeGroupConfig) -> list[dict[str, str]]:
    """Tolerations of every taint of the group, user one included."""
    return [
        {"key": t.key, "operator": "Equal", "value": t.value, "effect": t.kubernetes_effect} for t in group.all_taints
    ]


def placeholder_spec(profile: ProfileConfig, group: NodeGroupConfig, seats: int) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "placeholder", "dandiarchive.org/profile": profile.slug}
    resources: dict[str, Any] = {"requests": server_requests(profile)}
    if profile.gpus:
        resources["limits"] = {"nvidia.com/gpu": profile.gpus}
    return {
        "replicas": seats,
        "podManagementPolicy": "Parallel",
        "serviceName": f"placeholder-{profile.slug}",
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "priorityClassName": PRIORITY_CLASS,
                "schedulerName": SCHEDULER,
                "nodeSelector": {NODE_GROUP_LABEL: profile.node_group},
                "tolerations": tolerations(group),
                "automountServiceAccountToken": False,
                "terminationGracePeriodSeconds": 0,
                "containers": [
                    {
                        "name": "pause",
                        "image": PAUSE,
                        "resources": resources,
                        "securityContext": {
                            "runAsNonRoot": True, "runAsUser": 65534, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
                        },
                    }
                ],
            },
        },
    }  # fmt: skip


def placeholders(
    name: str,
    profiles: list[ProfileConfig],
    seats: dict[str, int],
    node_groups: dict[str, NodeGroupConfig],
    namespace: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> None:
    for profile in profiles:
        if seats.get(profile.slug):
            k8s.apps.v1.StatefulSet(
                f"{name}-placeholder-{profile.slug}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"placeholder-{profile.slug}",
                    namespace=namespace,
                    # Seats wait for nodes the autoscaler is still starting; `pulumi up` must not wait with
                    # them (it would time out after 10 minutes in the middle of an event).
                    annotations={"pulumi.com/skipAwait": "true"},
                ),
                # Plain dicts, as the Kubernetes API has them.
                spec=cast(Any, placeholder_spec(profile, node_groups[profile.node_group], seats[profile.slug])),
                opts=opts,
            )
