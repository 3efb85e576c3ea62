"""Where a pod can run among the recorded node groups, and what it asks of a node: the scheduler's rules for
node selectors, required node affinity and taints, and a pod's requests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from offline.engine import Plan

EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_SUFFIX = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3,
           "Ti": 1024**4}  # fmt: skip


@dataclass(frozen=True)
class NodeGroup:
    """A recorded managed node group, as its nodes look to the scheduler."""

    name: str
    labels: dict[str, str]
    taints: list[dict[str, str]]
    instance_types: list[str]

    @property
    def role(self) -> str:
        return self.labels["hub.jupyter.org/node-purpose"]


def node_groups(plan: Plan) -> dict[str, NodeGroup]:
    """Every recorded node group, with the labels EKS adds to its nodes."""
    groups = {}
    for r in plan.of_type("eks:index:ManagedNodeGroup"):
        inputs = r.inputs
        # Keyed as the program builds them: core-us-east-2a, user-small, ...
        name = r.name.removeprefix("cluster-")
        labels = {
            **inputs["labels"],
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "arm64" if "ARM" in inputs["amiType"] else "amd64",
            "eks.amazonaws.com/capacityType": inputs["capacityType"],
        }
        taints = [{**t, "effect": EFFECTS[t["effect"]]} for t in inputs.get("taints", [])]
        groups[name] = NodeGroup(name, labels, taints, list(inputs["instanceTypes"]))
    return groups


def _expression_holds(expression: dict[str, Any], labels: dict[str, str]) -> bool:
    key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
    return {
        "In": lambda: labels.get(key) in values,
        "NotIn": lambda: labels.get(key) not in values,
        "Exists": lambda: key in labels,
        "DoesNotExist": lambda: key not in labels,
    }[operator]()


def _tolerates(tolerations: list[dict[str, Any]], taint: dict[str, str]) -> bool:
    for t in tolerations:
        if t.get("effect") not in (None, "", taint["effect"]):
            continue
        if t.get("operator", "Equal") == "Exists" and t.get("key") in (None, "", taint["key"]):
            return True
        if t.get("key") == taint["key"] and t.get("value", "") == taint.get("value", ""):
            return True
    return False


def can_land(spec: dict[str, Any], group: NodeGroup) -> bool:
    """Whether the scheduler may place a pod with `spec` on a node of `group`."""
    if any(group.labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms") or []
    if terms and not any(
        all(_expression_holds(e, group.labels) for e in term.get("matchExpressions") or []) for term in terms
    ):
        return False
    hard = [t for t in group.taints if t["effect"] in ("NoSchedule", "NoExecute")]
    return all(_tolerates(spec.get("tolerations") or [], t) for t in hard)


def landing_groups(spec: dict[str, Any], groups: dict[str, NodeGroup]) -> set[str]:
    return {name for name, group in groups.items() if can_land(spec, group)}


def quantity(value: Any) -> float:
    """A Kubernetes quantity (6, "100m", "600Mi", 17179869184) as a number."""
    if isinstance(value, int | float):
        return float(value)
    match = _QUANTITY.match(str(value))
    if not match:
        raise ValueError(f"not a quantity: {value!r}")
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def requests(spec: dict[str, Any]) -> dict[str, float]:
    """What the scheduler reserves for the pod: the larger of its containers' sum and any init container."""
    total: dict[str, float] = {}
    for container in spec.get("containers") or []:
        for resource, value in ((container.get("resources") or {}).get("requests") or {}).items():
            total[resource] = total.get(resource, 0.0) + quantity(value)
    for container in spec.get("initContainers") or []:
        for resource, value in ((container.get("resources") or {}).get("requests") or {}).items():
            total[resource] = max(total.get(resource, 0.0), quantity(value))
    return total
