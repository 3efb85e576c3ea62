"""Every node group launches from its own template: a gp3 root volume of the size, throughput and IOPS the
config asks for, the cost tags on each node and its disk, and for parallel image pull a NodeConfig in user
data that nodeadm reads."""

from __future__ import annotations

import base64
import email
import json
from typing import Any

import pytest
import yaml

from components import node_groups
from offline.engine import Plan
from stackconfig import aws_catalog
from stackconfig.nodes import NodeGroupConfig
from tests.conftest import plan_with, stack_config

# nodeadm's NodeConfig feature gates (api/v1alpha1 nodeconfig_types.go, Feature enum, at awslabs/amazon-eks-ami
# 81fec2e, 2026-07-23); nodeadm refuses a gate it does not know, and the node never joins.
NODEADM_FEATURE_GATES = {"InstanceIdNodeName", "FastImagePull"}
NODE_CONFIG_MEDIA_TYPE = "application/node.eks.aws"


def node_configs(user_data: str) -> list[dict[str, Any]]:
    """What nodeadm reads from launch-template user data: base64, then a MIME multipart document whose
    application/node.eks.aws parts are NodeConfigs (internal/configprovider/mime.go)."""
    document = email.message_from_bytes(base64.b64decode(user_data, validate=True))
    if document.get_content_maintype() != "multipart" or not document.get_boundary():
        raise ValueError("user data is not a MIME multipart document with a boundary")
    found = [
        yaml.safe_load(part.get_payload(decode=True))
        for part in document.get_payload()
        if part.get_content_type() == NODE_CONFIG_MEDIA_TYPE
    ]
    if not found:
        raise ValueError(f"no {NODE_CONFIG_MEDIA_TYPE} part in the user data")
    return found


def templates(plan: Plan) -> dict[str, dict[str, Any]]:
    return {
        t.name.removeprefix("cluster-").removesuffix("-launch-template"): t.inputs
        for t in plan.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    }


def test_every_group_launches_from_its_own_template(plan: Plan) -> None:
    groups = plan.of_type("eks:index:ManagedNodeGroup")
    assert set(templates(plan)) == {g.name.removeprefix("cluster-") for g in groups}
    for group in groups:
        name = group.name.removeprefix("cluster-")
        assert group.inputs["launchTemplate"]["id"] == f"lt-cluster-{name}-launch-template"
        # pulumi-eks sets the version only for groups without a template; ours follow the cluster.
        assert group.inputs["version"] == plan.config.cluster.kubernetes_version


def test_nodes_and_their_disks_carry_the_cost_tags(plan: Plan) -> None:
    """The provider's default tags reach the template, not what it launches: the budget filters on Stack."""
    # Provider inputs are recorded as strings: the nested default tags as JSON.
    provider_tags = json.loads(plan.one("pulumi:providers:aws").inputs["defaultTags"])["tags"]
    assert provider_tags["Stack"] == plan.stack
    for inputs in templates(plan).values():
        tagged = {spec["resourceType"]: spec["tags"] for spec in inputs["tagSpecifications"]}
        assert tagged == {"instance": provider_tags, "volume": provider_tags}
        assert set(tagged) <= set(aws_catalog.enum("ec2", "ResourceType"))


def test_the_template_root_volume_follows_the_config(plan: Plan) -> None:
    raw = stack_config(plan)["dandihub:nodeGroups"]
    for key, inputs in templates(plan).items():
        name = next(n for n in raw if key == n or key.startswith(f"{n}-"))  # core-<zone> is the core entry
        (mapping,) = inputs["blockDeviceMappings"]
        assert mapping["deviceName"] == "/dev/xvda", "the AL2023 root volume holds the images"
        ebs = mapping["ebs"]
        assert ebs["volumeType"] in aws_catalog.enum("ec2", "VolumeType") and ebs["volumeType"] == "gp3"
        assert ebs["volumeSize"] == raw[name]["diskSize"]
        default = 600 if raw[name].get("imagePull") == "parallel" else 125
        assert ebs["throughput"] == raw[name].get("diskThroughput", default)
        assert ebs["encrypted"] == "true" and ebs["deleteOnTermination"] == "true"
        assert "imageId" not in inputs, "EKS must keep choosing and upgrading the AMI"
        metadata = inputs["metadataOptions"]
        hops = 2 if raw[name]["role"] == "core" else 1  # tests/test_metadata.py says why
        assert metadata == {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": hops}
        assert metadata["httpTokens"] in aws_catalog.enum("ec2", "LaunchTemplateHttpTokensState")


@pytest.mark.parametrize(("throughput", "iops"), [(125, 3000), (600, 3000), (750, 3000), (1000, 4000), (2000, 8000)])
def test_iops_carry_the_throughput_within_gp3_limits(throughput: int, iops: int) -> None:
    group = NodeGroupConfig.model_validate(
        {"role": "user", "instanceTypes": ["m6i.2xlarge"], "maxSize": 1, "diskThroughput": throughput}
    )
    low, high = aws_catalog.gp3_range("Iops")
    assert group.image_disk_iops == iops and low <= iops <= high
    assert group.image_disk_throughput <= group.image_disk_iops * 0.25


def test_user_data_turns_on_fast_image_pull_as_nodeadm_reads_it(plan: Plan) -> None:
    raw = stack_config(plan)["dandihub:nodeGroups"]
    for name, inputs in templates(plan).items():
        if raw.get(name, {}).get("imagePull") != "parallel":
            assert "userData" not in inputs, "only parallel pull adds to EKS's own NodeConfig"
            continue
        (config,) = node_configs(inputs["userData"])
        assert config["apiVersion"] == "node.eks.aws/v1alpha1" and config["kind"] == "NodeConfig"
        assert config["spec"] == {"featureGates": {"FastImagePull": True}}, name
        assert set(config["spec"]["featureGates"]) <= NODEADM_FEATURE_GATES


def test_user_data_is_the_same_on_every_run() -> None:
    # A changed user data is a new template version, which replaces every node of the group.
    config = node_groups.PARALLEL_PULL
    assert node_groups.nodeadm_user_data(config) == node_groups.nodeadm_user_data(config)


@pytest.mark.parametrize(
    "broken",
    [
        "not base64!",
        base64.b64encode(b"apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\n").decode(),
        base64.b64encode(
            b'Content-Type: multipart/mixed; boundary="b"\nMIME-Version: 1.0\n\n--b\n'
            b"Content-Type: text/x-shellscript\n\necho hi\n--b--\n"
        ).decode(),
    ],
    ids=["not-base64", "not-multipart", "no-node-config-part"],
)
def test_the_user_data_reader_has_teeth(broken: str) -> None:
    with pytest.raises(ValueError):
        node_configs(broken)


def test_a_faster_disk_alone_adds_no_user_data() -> None:
    plan = plan_with(
        "staging",
        set_={"nodeGroups.user-small.imagePull": "sequential", "nodeGroups.user-small.diskThroughput": 1000},
    )
    inputs = templates(plan)["user-small"]
    assert "userData" not in inputs
    ebs = inputs["blockDeviceMappings"][0]["ebs"]
    assert (ebs["throughput"], ebs["iops"]) == (1000, 4000)


def test_a_bottlerocket_group_sizes_its_data_volume() -> None:
    """Bottlerocket keeps images and pods on its second disk; its root holds only the OS."""
    bottlerocket = {"nodeGroups.gpu.amiType": "BOTTLEROCKET_x86_64_NVIDIA", "nodeGroups.gpu.imagePull": "sequential"}
    (mapping,) = templates(plan_with("staging", set_=bottlerocket))["gpu"]["blockDeviceMappings"]
    assert (mapping["deviceName"], mapping["ebs"]["volumeSize"]) == ("/dev/xvdb", 100)
