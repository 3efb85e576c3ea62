"""The EKS cluster, its node groups, the Kubernetes provider and the node add-ons."""

from __future__ import annotations

import json

import pytest

from offline.engine import Plan
from stackconfig.nodes import NodeGroupConfig
from tests.conftest import TINY_PROFILE, plan_with, stack_config

NODE_POLICIES = {
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
}


def private_subnets(plan: Plan) -> dict[str, str]:
    """The recorded private subnets' ids by AZ, in the network's (the region's) order."""
    subnets = [s for s in plan.of_type("aws:ec2/subnet:Subnet") if "-private-" in s.name]
    return {s.inputs["availabilityZone"]: s.id for s in sorted(subnets, key=lambda s: s.inputs["availabilityZone"])}


def test_cluster_settings(plan: Plan) -> None:
    cluster = plan.one("eks:index:Cluster").inputs
    config = stack_config(plan)["dandihub:cluster"]
    assert cluster["name"] == config["name"]
    assert cluster["version"] == config["kubernetesVersion"]
    assert cluster["authenticationMode"] == "API"
    assert cluster["skipDefaultNodeGroup"] is True
    assert cluster["createOidcProvider"] is True
    assert cluster["nodeAssociatePublicIpAddress"] is False
    assert cluster["enabledClusterLogTypes"] == config["logTypes"]
    assert sorted(cluster["privateSubnetIds"]) == sorted(private_subnets(plan).values())
    assert all(s.startswith("subnet-network-public-") for s in cluster["publicSubnetIds"])


def test_admin_principals_get_cluster_admin_access_entries() -> None:
    arn = "arn:aws:iam::278212569472:role/dandihub-admins"
    plan = plan_with("prod", set_={"cluster.adminPrincipals": [arn]})
    entries = plan.one("eks:index:Cluster").inputs["accessEntries"]
    assert list(entries) == ["278212569472-role-dandihub-admins"]
    entry = next(iter(entries.values()))
    assert entry["principalArn"] == arn
    policy = entry["accessPolicies"]["cluster-admin"]
    assert policy["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    assert policy["accessScope"] == {"type": "cluster"}


def test_ci_roles_get_admin_and_view_entries_and_the_creator_none() -> None:
    """The deploy role administers, the preview role reads (AmazonEKSViewPolicy); the creator named in
    createdBy gets no entry here, since EKS made its own."""
    deploy, preview = (
        "arn:aws:iam::278212569472:role/dandihub-deploy",
        "arn:aws:iam::278212569472:role/dandihub-preview",
    )
    creator = "arn:aws:iam::278212569472:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123456789abcdef"
    plan = plan_with(
        "staging",
        set_={"cluster.createdBy": creator, "cluster.adminPrincipals": [deploy], "cluster.viewerPrincipals": [preview]},
    )
    entries = plan.one("eks:index:Cluster").inputs["accessEntries"]
    policies = {
        e["principalArn"]: {n: p["policyArn"] for n, p in e["accessPolicies"].items()} for e in entries.values()
    }
    assert policies == {
        deploy: {"cluster-admin": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"},
        preview: {"view": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"},
    }


def test_node_role_has_the_standard_worker_policies(plan: Plan) -> None:
    role = plan.one("aws:iam/role:Role", "cluster-node-role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    attached = plan.children_of(role)
    assert {a.inputs["policyArn"] for a in attached} == NODE_POLICIES


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_each_node_group_follows_its_config(stack: str, request: pytest.FixtureRequest) -> None:
    plan: Plan = request.getfixturevalue(stack)
    groups = stack_config(plan)["dandihub:nodeGroups"]
    recorded = {r.name.removeprefix("cluster-"): r.inputs for r in plan.of_type("eks:index:ManagedNodeGroup")}
    zones = list(private_subnets(plan))
    # The core entry is one group per zone, in its first `zones` zones; every other group spans them all.
    placed = {
        (f"{name}-{zone}" if raw["role"] == "core" else name): (name, [zone] if raw["role"] == "core" else zones)
        for name, raw in groups.items()
        for zone in (zones[: raw.get("zones", 1)] if raw["role"] == "core" else zones[:1])
    }
    assert set(recorded) == set(placed)
    for key, (name, group_zones) in placed.items():
        raw = groups[name]
        group = NodeGroupConfig.model_validate(raw)
        inputs = recorded[key]
        assert inputs["instanceTypes"] == raw["instanceTypes"]
        assert inputs["capacityType"] == raw.get("capacityType", "ON_DEMAND")
        assert inputs["amiType"] == raw.get("amiType", "AL2023_x86_64_STANDARD")
        # The disk is in the group's own launch template (checked in test_node_groups), never twice.
        assert "diskSize" not in inputs and inputs["launchTemplate"]["version"] == "1"
        assert inputs["version"] == plan.config.cluster.kubernetes_version
        assert inputs["scalingConfig"] == {
            "minSize": raw.get("minSize", 0),
            "desiredSize": group.desired,
            "maxSize": raw["maxSize"],
        }
        assert inputs["subnetIds"] == [private_subnets(plan)[zone] for zone in group_zones]
        assert inputs["ignoreScalingChanges"] is True
        assert inputs["labels"]["dandiarchive.org/node-group"] == name


def _taints(plan: Plan, group: str) -> set[tuple[str, str, str]]:
    inputs = plan.one("eks:index:ManagedNodeGroup", f"cluster-{group}").inputs
    return {(t["key"], t.get("value", ""), t["effect"]) for t in inputs.get("taints", [])}


def test_roles_set_the_jupyterhub_labels_and_taints(staging: Plan) -> None:
    labels = {
        g: staging.one("eks:index:ManagedNodeGroup", f"cluster-{g}").inputs["labels"]
        for g in ("core-us-east-2a", "user-small", "workshop", "gpu")
    }
    assert labels["core-us-east-2a"]["hub.jupyter.org/node-purpose"] == "core"
    assert labels["core-us-east-2a"]["dandiarchive.org/node-group"] == "core"
    assert _taints(staging, "core-us-east-2a") == set()
    user_taint = ("hub.jupyter.org/dedicated", "user", "NO_SCHEDULE")
    for group in ("user-small", "workshop"):
        assert labels[group]["hub.jupyter.org/node-purpose"] == "user"
        assert _taints(staging, group) == {user_taint}
    assert labels["gpu"]["hub.jupyter.org/node-purpose"] == "user"
    assert labels["gpu"]["k8s.amazonaws.com/accelerator"] == "nvidia-tesla-t4"
    assert _taints(staging, "gpu") == {user_taint, ("nvidia.com/gpu", "present", "NO_SCHEDULE")}


def test_user_and_gpu_groups_scale_from_zero_and_core_keeps_a_node(plan: Plan) -> None:
    for group in plan.of_type("eks:index:ManagedNodeGroup"):
        scaling = group.inputs["scalingConfig"]
        purpose = group.inputs["labels"]["hub.jupyter.org/node-purpose"]
        assert scaling["minSize"] <= scaling["desiredSize"] <= scaling["maxSize"]
        assert (scaling["minSize"] >= 1) if purpose == "core" else (scaling["minSize"] == 0)


def test_user_spot_groups_are_diversified_and_core_is_on_demand(plan: Plan) -> None:
    for group in plan.of_type("eks:index:ManagedNodeGroup"):
        inputs = group.inputs
        if inputs["labels"]["hub.jupyter.org/node-purpose"] == "core":
            assert inputs["capacityType"] == "ON_DEMAND"
        elif inputs["capacityType"] == "SPOT" and "k8s.amazonaws.com/accelerator" not in inputs["labels"]:
            assert len(inputs["instanceTypes"]) >= 2
            assert len({t.split(".")[1] for t in inputs["instanceTypes"]}) == 1


def test_node_groups_join_the_cluster_with_the_node_role(plan: Plan) -> None:
    cluster = plan.one("eks:index:Cluster")
    role = plan.one("aws:iam/role:Role", "cluster-node-role")
    for group in plan.of_type("eks:index:ManagedNodeGroup"):
        assert group.inputs["cluster"] == cluster.urn
        assert role.urn in group.dependencies
    assert cluster.inputs["instanceRoles"] == ["cluster-node-role"]


def test_every_kubernetes_object_uses_the_cluster_provider(plan: Plan) -> None:
    provider = plan.one("pulumi:providers:kubernetes")
    assert json.loads(provider.inputs["kubeconfig"])["current-context"] == f"dandihub-{plan.stack}"
    assert plan.one("eks:index:Cluster").urn in provider.dependencies
    in_cluster = [r for r in plan.resources if r.custom and r.type.startswith("kubernetes:")]
    assert len(in_cluster) >= 8
    assert {r.provider_urn for r in in_cluster} == {provider.urn}


def test_kubeconfig_is_exported_as_a_secret(plan: Plan) -> None:
    assert "kubeconfig" in plan.secret_outputs
    assert json.loads(plan.outputs["kubeconfig"])["kind"] == "Config"


def test_device_plugin_runs_only_on_gpu_nodes_for_amazon_linux(staging: Plan) -> None:
    plugin = staging.one("kubernetes:helm.sh/v3:Release", "nvidia-device-plugin").inputs
    assert plugin["chart"] == "nvidia-device-plugin"
    assert plugin["repositoryOpts"]["repo"] == "https://nvidia.github.io/k8s-device-plugin"
    assert plugin["version"] == "0.17.1"
    terms = plugin["values"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchExpressions"] == [
        {"key": "k8s.amazonaws.com/accelerator", "operator": "Exists"}
    ]
    tolerated = {t["key"] for t in plugin["values"]["tolerations"]}
    gpu_taints = {key for key, _, _ in _taints(staging, "gpu")}
    assert gpu_taints <= tolerated


def test_bottlerocket_nvidia_ships_its_own_device_plugin() -> None:
    bottlerocket = {"nodeGroups.gpu.amiType": "BOTTLEROCKET_x86_64_NVIDIA", "nodeGroups.gpu.imagePull": "sequential"}
    plan = plan_with("staging", set_=bottlerocket)
    assert not [r for r in plan.of_type("kubernetes:helm.sh/v3:Release") if "nvidia" in r.name]


def test_no_gpu_group_no_device_plugin() -> None:
    plan = plan_with(
        "staging",
        unset=["nodeGroups.gpu"],
        set_={"hub.profiles": [TINY_PROFILE]},
    )
    assert not [r for r in plan.of_type("kubernetes:helm.sh/v3:Release") if "nvidia" in r.name]
    assert not [r for r in plan.of_type("aws:autoscaling/tag:Tag") if "-gpu-" in r.name]


def test_node_addons_wait_for_the_nodes(plan: Plan) -> None:
    groups = {g.urn for g in plan.of_type("eks:index:ManagedNodeGroup")}
    for addon in plan.of_type("aws:eks/addon:Addon"):
        assert groups <= set(addon.dependencies), addon.name


def test_ebs_csi_driver_for_the_hub_database(plan: Plan) -> None:
    addon = plan.one("aws:eks/addon:Addon", "cluster-ebs-csi")
    role = plan.one("aws:iam/role:Role", "cluster-ebs-csi-role")
    assert addon.inputs["addonName"] == "aws-ebs-csi-driver"
    assert addon.inputs["serviceAccountRoleArn"] == f"arn:aws:iam::123456789012:role/{role.name}"
    condition = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
    assert [v for k, v in condition.items() if k.endswith(":sub")] == [
        "system:serviceaccount:kube-system:ebs-csi-controller-sa"
    ]
    gp3 = plan.one("kubernetes:storage.k8s.io/v1:StorageClass", "cluster-gp3").inputs
    assert gp3["provisioner"] == "ebs.csi.aws.com"
    assert {k: v for k, v in gp3["parameters"].items() if not k.startswith("tagSpecification_")} == {
        "type": "gp3",
        "encrypted": "true",
    }
    assert gp3["volumeBindingMode"] == "WaitForFirstConsumer"


def test_the_volumes_the_csi_driver_makes_carry_the_cost_tags(plan: Plan) -> None:
    """The hub's database and Prometheus live on the gp3 class; the driver tags what it creates with each
    tagSpecification_<n> parameter (kubernetes-sigs/aws-ebs-csi-driver pkg/driver/constants.go)."""
    storage_class = plan.one("kubernetes:storage.k8s.io/v1:StorageClass", "gp3")
    tags = dict(
        v.split("=", 1) for k, v in storage_class.inputs["parameters"].items() if k.startswith("tagSpecification_")
    )
    assert tags["Stack"] == plan.stack and {"Project", "Owner", "CostCenter"} <= set(tags)
