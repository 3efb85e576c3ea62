"""Where NetworkPolicies let a pod's traffic go: the Kubernetes rules for egress, evaluated on manifests.

A pod selected by at least one policy with an Egress type may send only what some rule of those policies
allows; a rule allows a destination when one of its ports and one of its peers match (an empty list
matches everything). Peers: podSelector (the policy's namespace), namespaceSelector (with an optional
podSelector), ipBlock (cidr minus except).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Destination:
    """Where traffic goes: an IP address, and for a pod its labels and its namespace's labels."""

    ip: str
    port: int
    protocol: str = "TCP"
    pod_labels: dict[str, str] | None = None
    namespace: str = ""
    namespace_labels: dict[str, str] = field(default_factory=dict)
    # The name of the receiving container's port, for rules that name ports (hub's `http`).
    port_name: str = ""


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        present = key in labels
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _peer_matches(peer: dict[str, Any], policy_namespace: str, to: Destination) -> bool:
    if "ipBlock" in peer:
        address = ipaddress.ip_address(to.ip)
        block = peer["ipBlock"]
        inside = address in ipaddress.ip_network(block["cidr"])
        return inside and not any(address in ipaddress.ip_network(e) for e in block.get("except", []))
    if to.pod_labels is None:
        return False
    if "namespaceSelector" in peer:
        namespace_ok = _selects(peer["namespaceSelector"], to.namespace_labels)
    else:
        namespace_ok = to.namespace == policy_namespace
    return namespace_ok and _selects(peer.get("podSelector", {}), to.pod_labels)


def _port_matches(port: dict[str, Any], to: Destination) -> bool:
    if port.get("protocol", "TCP") != to.protocol:
        return False
    if "port" not in port:
        return True
    if not isinstance(port["port"], int):
        return port["port"] == to.port_name
    return port["port"] <= to.port <= port.get("endPort", port["port"])


def egress_allowed(policies: list[Manifest], namespace: str, pod_labels: dict[str, str], to: Destination) -> bool:
    """Whether a pod with `pod_labels` in `namespace` may send to `to` under `policies`."""
    return _allowed(policies, "Egress", "egress", "to", namespace, pod_labels, to)


def ingress_allowed(policies: list[Manifest], namespace: str, pod_labels: dict[str, str], source: Destination) -> bool:
    """Whether a pod with `pod_labels` in `namespace` may receive from `source` on `source.port`."""
    return _allowed(policies, "Ingress", "ingress", "from", namespace, pod_labels, source)


def _allowed(
    policies: list[Manifest],
    kind: str,
    rules_key: str,
    peers_key: str,
    namespace: str,
    pod_labels: dict[str, str],
    other: Destination,
) -> bool:
    applying = [
        p
        for p in policies
        if p["metadata"].get("namespace", namespace) == namespace
        and kind in p["spec"].get("policyTypes", [])
        and _selects(p["spec"].get("podSelector", {}), pod_labels)
    ]
    if not applying:
        return True
    return any(
        (not rule.get("ports") or any(_port_matches(port, other) for port in rule["ports"]))
        and (not rule.get(peers_key) or any(_peer_matches(peer, namespace, other) for peer in rule[peers_key]))
        for policy in applying
        for rule in policy["spec"].get(rules_key) or []
    )
