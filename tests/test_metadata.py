"""No user pod reaches the instance metadata service, from its first instant: the groups that run user servers
answer IMDSv2 only within one hop (the node's own network namespace), and every pod on those nodes that is not
on the host network, rendered from the real charts (the program's releases and the EKS add-ons' charts with
the configurationValues the program sends), is one that needs no metadata, for a reason named here."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from offline.charts import has_chart
from offline.engine import Plan
from tests.charts import addon_manifests, pod_specs, render
from tests.conftest import plan_with
from tests.scheduling import landing_groups, node_groups

# Pods that are not host-network, land on user or GPU nodes, and need no metadata: why, from their source.
NO_METADATA = {
    # kubernetes-sigs/aws-ebs-csi-driver@429e202e pkg/cloud/metadata/metadata.go: DefaultMetadataSources is
    # imds then kubernetes; without IMDS the node plugin reads its instance id, type and zone from its Node
    # object (it calls no AWS API; the controller, on core nodes with its own IRSA role, does).
    "DaemonSet/ebs-csi-node": "instance facts from the Kubernetes API when IMDS does not answer",
    # The program's image pullers and the chart's warm seats run the pause image.
    "DaemonSet/image-puller-": "pause image: pulls, then sleeps",
    "StatefulSet/user-placeholder": "pause image: holds a seat",
    "StatefulSet/placeholder-": "pause image: holds a seat (the program's warm seats, components/placeholders.py)",
    # NVIDIA/k8s-device-plugin v0.17.1: reads the GPUs through the driver; not an AWS client.
    "DaemonSet/nvidia-device-plugin": "reads the GPUs through the driver",
}


def user_groups(plan: Plan) -> dict[str, Any]:
    return {k: g for k, g in node_groups(plan).items() if g.labels["hub.jupyter.org/node-purpose"] == "user"}


def addon_specs(plan: Plan) -> dict[str, dict[str, Any]]:
    """Pod specs of the EKS add-ons' charts, rendered with the configurationValues the program sends."""
    specs = {}
    for addon in plan.of_type("aws:eks/addon:Addon"):
        # Without a chart here: vpc-cni and kube-proxy (host-network DaemonSets), coredns (no toleration
        # of the user nodes' taint).
        if has_chart(addon):
            specs |= pod_specs(addon_manifests(addon, plan.config.cluster.name, plan.config.region))
    return specs


def cluster_specs(plan: Plan) -> dict[str, dict[str, Any]]:
    specs = addon_specs(plan)
    for release in plan.of_type("kubernetes:helm.sh/v3:Release"):
        specs |= pod_specs(render(release))
    for kind in ("DaemonSet", "Deployment", "StatefulSet"):
        specs |= {f"{kind}/{r.inputs['metadata']['name']}": r.inputs["spec"]["template"]["spec"]
                  for r in plan.of_type(f"kubernetes:apps/v1:{kind}")}  # fmt: skip
    return specs


def metadata_risks(specs: dict[str, dict[str, Any]], plan: Plan) -> dict[str, str]:
    """Pods that would land on user nodes off the host network, each with its reason or 'no reason known'."""
    groups = user_groups(plan)
    found = {}
    for name, spec in specs.items():
        if spec.get("hostNetwork") or not landing_groups(spec, groups):
            continue
        key = next((k for k in NO_METADATA if name == k or (k.endswith("-") and name.startswith(k))), None)
        found[key or name] = NO_METADATA[key] if key else "no reason known"
    return found


def test_groups_that_run_user_servers_answer_metadata_within_one_hop_only(plan: Plan) -> None:
    hops = {}
    for group in plan.of_type("eks:index:ManagedNodeGroup"):
        key = group.name.removeprefix("cluster-")
        template = plan.one("aws:ec2/launchTemplate:LaunchTemplate", f"cluster-{key}-launch-template")
        options = template.inputs["metadataOptions"]
        assert (options["httpTokens"], options["httpEndpoint"]) == ("required", "enabled")
        hops[group.inputs["labels"]["hub.jupyter.org/node-purpose"], options["httpPutResponseHopLimit"]] = True
    assert set(hops) == {("core", 2), ("user", 1)}


@pytest.fixture(scope="module")
def seated() -> Plan:
    """Staging with warm seats on a CPU and the GPU group, so every kind of user-node pod exists."""
    return plan_with("staging", set_={"hub.warmSeats": {"base": 1, "gpu": 1}})


@pytest.fixture(scope="module")
def staging_specs(seated: Plan) -> dict[str, dict[str, Any]]:
    return cluster_specs(seated)


def test_every_pod_on_user_nodes_off_the_host_network_needs_no_metadata(
    seated: Plan, staging_specs: dict[str, dict[str, Any]]
) -> None:
    risks = metadata_risks(staging_specs, seated)
    assert {k: v for k, v in risks.items() if v == "no reason known"} == {}
    assert set(risks) == set(NO_METADATA), "a reason for a pod that no longer lands there is stale"
    assert staging_specs["DaemonSet/efs-csi-node"]["hostNetwork"] is True
    assert staging_specs["DaemonSet/fluent-bit"]["hostNetwork"] is True


def test_the_metadata_check_has_teeth(seated: Plan, staging_specs: dict[str, dict[str, Any]]) -> None:
    """The EFS node plugin asks IMDS for its zone; off the host network it would be caught."""
    moved = copy.deepcopy(staging_specs)
    moved["DaemonSet/efs-csi-node"]["hostNetwork"] = False
    assert metadata_risks(moved, seated)["DaemonSet/efs-csi-node"] == "no reason known"


def test_user_servers_do_not_wait_on_the_metadata_service(staging: Plan) -> None:
    env = staging.one("kubernetes:helm.sh/v3:Release", "hub-release").inputs["values"]["singleuser"]["extraEnv"]
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
