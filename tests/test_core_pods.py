"""Core nodes hold their pods: every pod that lands on a core node (the charts', the EKS add-ons' charts rendered
from the configurationValues the program sends, the program's own, and what EKS runs) counted against the
node's max pods, pod IPs, CPU and memory, each core node alone.

Upstream that decides the numbers:
- awslabs/amazon-eks-ami@81fec2e895854f599974fe4d3d72f61c0a9aaffa:nodeadm/internal/kubelet/eni_max_pods.go
  (max pods = ENIs x (IPs per ENI - 1) + 2), instance-info.jsonl (ENIs, IPs per ENI), config.go
  (withDefaultReservedResources: kube-reserved memory = 11 x that number + 255 MiB, whatever the kubelet's
  maxPods is set to);
- aws/amazon-vpc-cni-k8s@e082bae7c03ddc28357b01595f3746b117ac08c7:docs/prefix-and-ip-target.md (a /28 prefix
  per ENI slot with ENABLE_PREFIX_DELEGATION) and charts/aws-vpc-cni (aws-node: host network);
- the EKS user guide, choosing-instance-type, "How maxPods is determined": with prefix delegation a managed
  node group sets the kubelet's maxPods to 110 (up to 30 vCPUs) or 250.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

import plan as plan_command
from offline import core_pods
from offline.engine import Plan
from offline.scheduling import can_land, node_groups, requests
from stackconfig import instances
from tests.charts import chart_folder


@pytest.fixture(autouse=True)
def _charts() -> None:
    chart_folder("jupyterhub")  # skips without DANDIHUB_CHARTS


def test_nodeadm_and_the_vpc_cni_give_these_numbers() -> None:
    assert instances.pod_capacity("t4g.medium", prefix_delegation=False) == instances.PodCapacity(17, 15)
    assert instances.pod_capacity("t4g.medium", prefix_delegation=True) == instances.PodCapacity(110, 240)
    assert instances.pod_capacity("m5.8xlarge", prefix_delegation=True) == instances.PodCapacity(250, 3712)
    assert instances.pod_capacity("m6i.2xlarge", prefix_delegation=False) == instances.PodCapacity(58, 56)
    # kube-reserved follows nodeadm's own number, not the managed node group's 110.
    assert instances.allocatable("t4g.medium").max_pods == 17


def test_each_core_node_alone_holds_every_core_pod(plan: Plan) -> None:
    nodes = core_pods.core_nodes(plan)
    assert len(nodes) == len([g for g in node_groups(plan).values() if g.role == "core"]) >= 1
    for node in nodes:
        assert node.problems() == [], node.group
        # More than nodeadm's 17 on a t4g.medium: prefix delegation is what makes them fit.
        assert node.pod_count > instances.nodeadm_max_pods(node.instance_type)
        sources = {w.source for w in node.pods}
        assert {"EKS", "add-on aws-ebs-csi-driver", "add-on aws-efs-csi-driver", "chart jupyterhub"} <= sources


def test_without_prefix_delegation_the_core_node_overflows(staging: Plan, monkeypatch: pytest.MonkeyPatch) -> None:
    """The design before: one VPC address per pod; pods stayed Pending and a second core node came up."""
    monkeypatch.setattr(core_pods, "prefix_delegation", lambda plan: False)
    (node,) = core_pods.core_nodes(staging)
    problems = node.problems()
    assert problems[0].endswith("pods, max pods 17") and problems[1].endswith("the node has 15"), problems


def test_the_cluster_turns_prefix_delegation_on(plan: Plan) -> None:
    options = plan.one("eks:index:Cluster").inputs["vpcCniOptions"]
    assert options["enablePrefixDelegation"] is True and options["enableNetworkPolicy"] is True


def test_a_pod_added_later_is_counted_without_a_change_here(staging: Plan) -> None:
    """Another workload recorded on a core node (an exporter, an Alertmanager) adds its pod and its address."""
    (before,) = core_pods.core_nodes(staging)
    exporter = next(r for r in staging.of_type("kubernetes:apps/v1:Deployment"))
    extra = copy.deepcopy(exporter)
    extra.inputs["metadata"]["name"] = "another-exporter"
    extra.inputs["spec"]["replicas"] = 2
    grown = copy.copy(staging)
    grown.resources = [*staging.resources, extra]
    (after,) = core_pods.core_nodes(grown)
    assert (after.pod_count, after.pod_ips) == (before.pod_count + 2, before.pod_ips + 2)


def test_every_rendered_workload_is_counted(staging: Plan) -> None:
    found = core_pods.workloads(staging)
    names = {(w.source, w.name) for w in found}
    assert ("add-on aws-ebs-csi-driver", "ebs-csi-controller") in names
    assert ("add-on amazon-cloudwatch-observability", "fluent-bit") in names
    assert ("chart jupyterhub", "user-scheduler") in names
    assert not [n for s, n in names if n == "ebs-csi-driver-test"], "helm test pods run only on `helm test`"
    ebs = next(w for w in found if w.name == "ebs-csi-controller")
    assert ebs.replicas == 2 and not ebs.host_network


def test_the_add_on_daemon_estimate_covers_the_rendered_daemons(plan: Plan) -> None:
    """stackconfig/instance_types.yaml addonDaemons, which the user-pod fit subtracts, is at least what the
    EKS add-ons' DaemonSets ask of each node."""
    estimate = instances._table()["addonDaemons"]
    daemons = [
        w
        for w in core_pods.workloads(plan)
        if w.kind == "DaemonSet" and (w.source == "EKS" or w.source.startswith("add-on"))
    ]
    for name, group in node_groups(plan).items():
        asked = {"cpu": 0.0, "memory": 0.0}
        for daemon in daemons:
            if can_land(daemon.spec, group):
                for resource, value in requests(daemon.spec).items():
                    asked[resource] = asked.get(resource, 0.0) + value
        assert asked["cpu"] <= estimate["cpuMillis"] / 1000, (name, asked)
        assert asked["memory"] <= estimate["memoryMiB"] * instances.MIB, (name, asked)


def test_the_plan_prints_pods_per_core_node(plan: Plan) -> None:
    text = plan_command.render(plan)
    lines = re.findall(
        r"^  (core-\S+) \(t4g\.medium\): (\d+) pods of 110 max pods, (\d+) pod IPs of 240, .*: fits$", text, re.M
    )
    assert len(lines) == len([g for g in node_groups(plan).values() if g.role == "core"])
    assert "Pods per core node (each alone, with every core pod; VPC CNI: prefix delegation):" in text


def test_coredns_replicas_follow_the_add_on_configuration(staging: Plan) -> None:
    changed = copy.copy(staging)
    cluster = copy.deepcopy(staging.one("eks:index:Cluster"))
    cluster.inputs["corednsAddonOptions"]["configurationValues"] = {"replicaCount": 1}
    changed.resources = [cluster if r.type == "eks:index:Cluster" else r for r in staging.resources]
    replicas = {w.name: w.replicas for w in core_pods.eks_workloads(changed)}
    assert replicas == {"aws-node": 1, "kube-proxy": 1, "coredns": 1, "eks-pod-identity-agent": 1}
    assert {w.name: w.replicas for w in core_pods.eks_workloads(staging)}["coredns"] == 2


def test_the_plan_says_when_it_cannot_count(staging: Plan, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DANDIHUB_CHARTS", str(tmp_path))
    assert core_pods.render(staging).startswith(
        f"Pods per core node: not counted (DANDIHUB_CHARTS={tmp_path} has no chart"
    )
