"""Images present before they are needed: on every node of a user or GPU group as it joins, the images of
the profiles that run on that group (and no others). One DaemonSet per group, in place of the chart's
single puller, which lands on CPU user nodes only and would pull every CPU image everywhere."""

from __future__ import annotations

from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from components.images import PAUSE
from stackconfig.hub import HubConfig
from stackconfig.image_refs import through_mirror
from stackconfig.nodes import NODE_GROUP_LABEL, NodeGroupConfig


def puller_spec(group_name: str, group: NodeGroupConfig, images: list[str]) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "image-puller", "dandiarchive.org/node-group": group_name}
    tolerations = [
        {"key": t.key, "operator": "Equal", "value": t.value, "effect": t.kubernetes_effect} for t in group.all_taints
    ]
    # Each image is an init container that exits at once: the kubelet pulls it when the node joins, and
    # (pinned by digest) never again while the node has it.
    pulls = [
        {"name": f"pull-{i}", "image": image, "imagePullPolicy": "IfNotPresent",
         "command": ["/bin/sh", "-c", "echo pulled"], "resources": {"requests": {"cpu": "0", "memory": "0"}}}
        for i, image in enumerate(images)
    ]  # fmt: skip
    return {
        "selector": {"matchLabels": labels},
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "100%"}},
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "nodeSelector": {NODE_GROUP_LABEL: group_name},
                "tolerations": tolerations,
                "automountServiceAccountToken": False,
                "terminationGracePeriodSeconds": 0,
                "initContainers": pulls,
                "containers": [
                    {"name": "pause", "image": PAUSE, "resources": {"requests": {"cpu": "0", "memory": "0"}}}
                ],
            },
        },
    }


def image_pullers(
    name: str,
    hub: HubConfig,
    node_groups: dict[str, NodeGroupConfig],
    namespace: pulumi.Input[str],
    mirror: str | None,
    opts: pulumi.ResourceOptions,
) -> list[k8s.apps.v1.DaemonSet]:
    return [
        k8s.apps.v1.DaemonSet(
            f"{name}-image-puller-{group_name}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"image-puller-{group_name}", namespace=namespace),
            # Plain dicts, as the Kubernetes API has them.
            spec=cast(
                Any, puller_spec(group_name, node_groups[group_name], [through_mirror(i.image, mirror) for i in images])
            ),
            opts=opts,
        )
        for group_name, images in hub.images_by_group().items()
    ]
