"""Every pod the cluster runs, and what lands on a core node: counted against the node's max pods, its pod IPs,
CPU and memory.

The pods come from what the program records, so a pod that later work adds is counted without a change
here: every Helm release's chart rendered from the values it sends, every EKS add-on whose chart is in
DANDIHUB_CHARTS rendered from its configurationValues, the program's own workloads, and the pods EKS runs
from add-ons without a chart here (offline/eks_workloads.yaml). Each core node is counted alone with every
core pod on it, since either core node must hold them all when the other is lost.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from offline import charts
from offline.engine import Plan
from offline.scheduling import can_land, node_groups, requests
from stackconfig import instances

EKS_WORKLOADS = Path(__file__).with_name("eks_workloads.yaml")
_WORKLOAD_TYPES = {
    "kubernetes:apps/v1:Deployment": "Deployment",
    "kubernetes:apps/v1:StatefulSet": "StatefulSet",
    "kubernetes:apps/v1:DaemonSet": "DaemonSet",
    "kubernetes:batch/v1:Job": "Job",
    "kubernetes:batch/v1:CronJob": "CronJob",
}


@dataclass(frozen=True)
class Workload:
    """Pods from one source: `replicas` pods (one per node for a DaemonSet) with pod spec `spec`."""

    source: str
    kind: str
    name: str
    replicas: int
    spec: dict[str, Any]

    @property
    def host_network(self) -> bool:
        """A host-network pod takes a pod slot but no address of its own from the VPC CNI."""
        return bool(self.spec.get("hostNetwork"))


def _from_object(source: str, kind: str, name: str, body: dict[str, Any]) -> Workload | None:
    spec = body.get("spec") or {}
    if kind in ("Deployment", "StatefulSet"):
        return Workload(source, kind, name, int(spec.get("replicas", 1)), spec["template"]["spec"])
    if kind == "DaemonSet":
        return Workload(source, kind, name, 1, spec["template"]["spec"])
    if kind == "Job":
        return Workload(source, kind, name, int(spec.get("parallelism", 1)), spec["template"]["spec"])
    if kind == "CronJob":  # its pod exists while a run lasts; counted, since runs may overlap anything
        return Workload(source, kind, name, 1, spec["jobTemplate"]["spec"]["template"]["spec"])
    if kind == "Pod":
        return Workload(source, kind, name, 1, spec)
    return None


def _from_manifests(source: str, manifests: list[charts.Manifest]) -> list[Workload]:
    found = []
    for m in manifests:
        hook = (m["metadata"].get("annotations") or {}).get("helm.sh/hook", "")
        if "test" in hook:  # `helm test` pods run only when someone runs the tests
            continue
        workload = _from_object(source, m["kind"], m["metadata"]["name"], m)
        if workload is not None:
            found.append(workload)
    return found


@functools.cache
def _eks_table() -> dict[str, Any]:
    return yaml.safe_load(EKS_WORKLOADS.read_text())


def eks_workloads(plan: Plan) -> list[Workload]:
    """VPC CNI, kube-proxy and CoreDNS, with CoreDNS's replicas from the add-on options the program sends, and the
    add-ons without a chart here that the program installs (the Pod Identity agent)."""
    coredns = (plan.one("eks:index:Cluster").inputs.get("corednsAddonOptions") or {}).get("configurationValues")
    found = []
    installed = {a.inputs["addonName"] for a in plan.of_type("aws:eks/addon:Addon")}
    for name, row in _eks_table().items():
        if "addOn" in row and row["addOn"] not in installed:
            continue  # an add-on the program installs only with a feature (the Pod Identity agent)
        replicas = row.get("replicas", 1)
        if name == "coredns" and coredns:
            replicas = (json.loads(coredns) if isinstance(coredns, str) else coredns).get("replicaCount", replicas)
        containers = [{"name": f"{name}-{i}", "resources": {"requests": r}} for i, r in enumerate(row["containers"])]
        spec = {"hostNetwork": row["hostNetwork"], "containers": containers, "tolerations": row["tolerations"]}
        found.append(Workload("EKS", row["kind"], name, int(replicas), spec))
    return found


def workloads(plan: Plan) -> list[Workload]:
    """Every workload the cluster runs (needs the charts: DANDIHUB_CHARTS)."""
    found = []
    for release in plan.of_type("kubernetes:helm.sh/v3:Release"):
        found += _from_manifests(f"chart {release.inputs['chart']}", charts.render_release(release))
    cluster, region = plan.config.cluster.name, plan.config.region
    for addon in plan.of_type("aws:eks/addon:Addon"):
        if charts.has_chart(addon):
            found += _from_manifests(f"add-on {addon.inputs['addonName']}", charts.render_addon(addon, cluster, region))
    for r in plan.resources:
        if r.type in _WORKLOAD_TYPES:
            # Without metadata.name, Pulumi names the object after the resource (with a suffix).
            name = (r.inputs.get("metadata") or {}).get("name") or r.name
            workload = _from_object("program", _WORKLOAD_TYPES[r.type], name, r.inputs)
            if workload is not None:
                found.append(workload)
    return found + eks_workloads(plan)


def prefix_delegation(plan: Plan) -> bool:
    return bool((plan.one("eks:index:Cluster").inputs.get("vpcCniOptions") or {}).get("enablePrefixDelegation"))


@dataclass(frozen=True)
class CoreNode:
    """One core group's smallest node with every core pod on it."""

    group: str
    instance_type: str
    capacity: instances.PodCapacity
    pods: list[Workload]
    cpu: float
    memory_bytes: float
    allocatable: instances.Allocatable
    # Memory the pods beyond nodeadm's max pods need but kube-reserved does not hold back (11 MiB each).
    unreserved_bytes: float

    @property
    def pod_count(self) -> int:
        return sum(w.replicas for w in self.pods)

    @property
    def pod_ips(self) -> int:
        return sum(w.replicas for w in self.pods if not w.host_network)

    def problems(self) -> list[str]:
        found = []
        if self.pod_count > self.capacity.max_pods:
            found.append(f"{self.pod_count} pods, max pods {self.capacity.max_pods}")
        if self.pod_ips > self.capacity.pod_ips:
            found.append(f"{self.pod_ips} pod IPs, the node has {self.capacity.pod_ips}")
        if self.cpu > self.allocatable.cpu:
            found.append(f"{self.cpu:.2f} CPU requested, {self.allocatable.cpu:.2f} allocatable")
        if self.memory_bytes + self.unreserved_bytes > self.allocatable.memory_bytes:
            found.append(
                f"{(self.memory_bytes + self.unreserved_bytes) / 2**30:.2f} GiB requested and unreserved, "
                f"{self.allocatable.memory_gib:.2f} GiB allocatable"
            )
        return found


def core_nodes(plan: Plan, found: list[Workload] | None = None) -> list[CoreNode]:
    """Each core group's node, loaded with every workload that may land on a core node."""
    found = workloads(plan) if found is None else found
    groups = node_groups(plan)
    table = instances._table()
    nodes = []
    for name, group in groups.items():
        if group.role != "core":
            continue
        node = instances.smallest(group.instance_types)
        on_node = [w for w in found if w.replicas and can_land(w.spec, group)]
        total = {"cpu": 0.0, "memory": 0.0}
        for workload in on_node:
            for resource, value in requests(workload.spec).items():
                if resource in total:
                    total[resource] += workload.replicas * value
        pods = sum(w.replicas for w in on_node)
        uncovered = max(0, pods - instances.nodeadm_max_pods(node.instance_type))
        nodes.append(
            CoreNode(
                name,
                node.instance_type,
                instances.pod_capacity(node.instance_type, prefix_delegation(plan)),
                on_node,
                total["cpu"],
                total["memory"],
                instances.allocatable(node.instance_type, with_addon_daemons=False),
                uncovered * table["kubeReservedMemoryMiB"]["perPod"] * instances.MIB,
            )
        )
    return nodes


def render(plan: Plan) -> str:
    """The plan's section: pods per core node against max pods and pod IPs, CPU and memory."""
    if charts.charts_root() is None:
        return f"Pods per core node: not counted ({charts.CHARTS_VARIABLE} is not set; README, Development)"
    try:
        nodes = core_nodes(plan)
    except (FileNotFoundError, charts.ChartVersionError) as error:
        return f"Pods per core node: not counted ({error})"
    mode = "prefix delegation" if prefix_delegation(plan) else "one address per pod"
    lines = [f"Pods per core node (each alone, with every core pod; VPC CNI: {mode}):"]
    for node in nodes:
        verdict = "; ".join(node.problems()) or "fits"
        lines.append(
            f"  {node.group} ({node.instance_type}): {node.pod_count} pods of {node.capacity.max_pods} max pods, "
            f"{node.pod_ips} pod IPs of {node.capacity.pod_ips}, CPU {node.cpu:.2f} of {node.allocatable.cpu:.2f}, "
            f"memory {(node.memory_bytes + node.unreserved_bytes) / 2**30:.2f} of "
            f"{node.allocatable.memory_gib:.2f} GiB: {verdict}"
        )
        by_source: dict[str, list[str]] = {}
        for w in node.pods:
            label = w.name + (f" x{w.replicas}" if w.replicas > 1 else "") + (" (host)" if w.host_network else "")
            by_source.setdefault(w.source, []).append(label)
        lines += [f"    {source}: {', '.join(names)}" for source, names in sorted(by_source.items())]
    return "\n".join(lines)
