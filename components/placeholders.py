"""Warm seats: pods that hold exactly what a server of a profile requests, on that profile's node group, at
the chart's placeholder priority (below every real server, so a server that needs the room evicts one and
starts at once, and the autoscaler brings up a node for the evicted seat). Standing seats are pause pods
of a StatefulSet; an event's seats are a Job whose pods end by themselves after its last day."""

from __future__ import annotations

import datetime
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from components.images import PAUSE, PYTHON
from stackconfig.events import EventConfig
from stackconfig.nodes import NODE_GROUP_LABEL, NodeGroupConfig
from stackconfig.profiles import ProfileConfig, memory_bytes

# The chart's names (z2jh with release `jupyterhub`): the placeholder priority and the user scheduler.
PRIORITY_CLASS = "jupyterhub-user-placeholder-priority"
SCHEDULER = "jupyterhub-user-scheduler"


def server_requests(profile: ProfileConfig) -> dict[str, float | int]:
    """What a server of the profile requests, as KubeSpawner writes it (memory in bytes, K/M/G/T = 1024^n), and
    the disk its scratch reserves."""
    return {
        "cpu": profile.cpu.guarantee,
        "memory": int(memory_bytes(profile.memory.guarantee)),
        "ephemeral-storage": profile.disk_request_bytes,
    }


def tolerations(group: NodeGroupConfig) -> list[dict[str, str]]:
    """Tolerations of every taint of the group, user one included."""
    return [
        {"key": t.key, "operator": "Equal", "value": t.value, "effect": t.kubernetes_effect} for t in group.all_taints
    ]


# An event's seat waits until the end of the event's last day (UTC), then exits 0: the Job is complete and
# its nodes scale down, with no `pulumi up` needed. The end is an argument, so the spec is the same on
# every `up` of the event.
SLEEP_UNTIL = (
    "import datetime, sys, time; end = datetime.datetime.fromisoformat(sys.argv[1]); "
    "time.sleep(max(0.0, (end - datetime.datetime.now(datetime.timezone.utc)).total_seconds()))"
)


def _labels(profile: ProfileConfig) -> dict[str, str]:
    return {"app.kubernetes.io/name": "placeholder", "dandiarchive.org/profile": profile.slug}


def seat_pod(profile: ProfileConfig, group: NodeGroupConfig) -> dict[str, Any]:
    """One seat: a pause container requesting a server's guarantees, placed and ranked like a seat."""
    resources: dict[str, Any] = {"requests": server_requests(profile)}
    if profile.gpus:
        resources["limits"] = {"nvidia.com/gpu": profile.gpus}
    return {
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
    }  # fmt: skip


def placeholder_spec(profile: ProfileConfig, group: NodeGroupConfig, seats: int) -> dict[str, Any]:
    return {
        "replicas": seats,
        "podManagementPolicy": "Parallel",
        "serviceName": f"placeholder-{profile.slug}",
        "selector": {"matchLabels": _labels(profile)},
        "template": {"metadata": {"labels": _labels(profile)}, "spec": seat_pod(profile, group)},
    }


def event_seats_spec(event: EventConfig, profile: ProfileConfig, group: NodeGroupConfig) -> dict[str, Any]:
    """The event's seats as a Job: every pod waits until the day after `end`, 00:00 UTC, then succeeds.
    A seat a server evicts fails with the DisruptionTarget condition, which the pod failure policy ignores,
    so the Job makes a new one (Kubernetes batch/v1 Job: podFailurePolicy, completions)."""
    pod = seat_pod(profile, group)
    over = datetime.datetime.combine(event.end + datetime.timedelta(days=1), datetime.time(), datetime.UTC)
    pod["containers"][0] |= {
        "name": "seat",
        "image": PYTHON,
        "command": ["python3", "-c", SLEEP_UNTIL, over.isoformat()],
    }
    pod["restartPolicy"] = "Never"
    return {
        "parallelism": event.seats,
        "completions": event.seats,
        "podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]},
        "template": {"metadata": {"labels": _labels(profile) | {"dandiarchive.org/event": event.name}}, "spec": pod},
    }


def _unawaited(name: str, namespace: pulumi.Input[str]) -> k8s.meta.v1.ObjectMetaArgs:
    """Seats wait for nodes the autoscaler is still starting (and a Job is awaited until it completes,
    which an event's does after the event): `pulumi up` must not wait with them."""
    return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, annotations={"pulumi.com/skipAwait": "true"})


def placeholders(
    name: str,
    profiles: list[ProfileConfig],
    seats: dict[str, int],
    events: list[EventConfig],
    node_groups: dict[str, NodeGroupConfig],
    namespace: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> None:
    """The standing seats by profile, and the seats of the events that run today."""
    by_slug = {p.slug: p for p in profiles}
    for event in events:
        profile = by_slug[event.profile]
        k8s.batch.v1.Job(
            f"{name}-seats-{event.name}",
            metadata=_unawaited(f"seats-{event.name}", namespace),
            spec=cast(Any, event_seats_spec(event, profile, node_groups[profile.node_group])),
            opts=opts,
        )
    for profile in profiles:
        if seats.get(profile.slug):
            k8s.apps.v1.StatefulSet(
                f"{name}-placeholder-{profile.slug}",
                metadata=_unawaited(f"placeholder-{profile.slug}", namespace),
                # Plain dicts, as the Kubernetes API has them.
                spec=cast(Any, placeholder_spec(profile, node_groups[profile.node_group], seats[profile.slug])),
                opts=opts,
            )
