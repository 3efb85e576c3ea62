"""The cluster autoscaler: IAM policy, IRSA trust, Helm values and the ASG tags for scale-from-zero."""

from __future__ import annotations

import json

import botocore.session
import pytest

from offline.engine import Plan
from offline.fake_cloud import fake_asg_name
from tests.conftest import stack_config

READ = {
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities",
    "autoscaling:DescribeTags",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
    "eks:DescribeNodegroup",
}
WRITE = {"autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"}
TAG = "k8s.io/cluster-autoscaler"


def policy(plan: Plan) -> dict:
    return json.loads(plan.one("aws:iam/policy:Policy", "autoscaler-policy").inputs["policy"])


def test_policy_reads_anywhere_and_scales_only_this_clusters_groups(plan: Plan) -> None:
    statements = policy(plan)["Statement"]
    assert len(statements) == 2
    read, write = statements
    assert (read["Effect"], set(read["Action"]), read["Resource"], "Condition" in read) == ("Allow", READ, "*", False)
    assert (write["Effect"], set(write["Action"]), write["Resource"]) == ("Allow", WRITE, "*")
    assert write["Condition"] == {"StringEquals": {f"autoscaling:ResourceTag/{TAG}/dandihub-{plan.stack}": "owned"}}


def test_policy_actions_exist_in_the_aws_api_models(staging: Plan) -> None:
    session = botocore.session.get_session()
    for action in READ | WRITE:
        service, operation = action.split(":")
        assert operation in session.get_service_model(service).operation_names, action


def test_irsa_role_trusts_only_the_autoscaler_service_account(plan: Plan) -> None:
    role = plan.one("aws:iam/role:Role", "autoscaler-role")
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    issuer = f"oidc.eks.us-east-2.amazonaws.com/id/OFFLINEDANDIHUB{plan.stack.upper()}"
    assert statement["Principal"] == {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{issuer}"}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            f"{issuer}:sub": "system:serviceaccount:kube-system:cluster-autoscaler",
            f"{issuer}:aud": "sts.amazonaws.com",
        }
    }
    (attachment,) = plan.children_of(role)
    assert attachment.inputs["policyArn"] == "arn:aws:iam::123456789012:policy/autoscaler-policy"


def test_helm_release_discovers_this_cluster(plan: Plan) -> None:
    release = plan.one("kubernetes:helm.sh/v3:Release", "autoscaler-release").inputs
    config = stack_config(plan)
    values = release["values"]
    assert release["chart"] == "cluster-autoscaler"
    assert release["repositoryOpts"]["repo"] == "https://kubernetes.github.io/autoscaler"
    assert release["version"] == "9.56.0"
    assert release["namespace"] == "kube-system"
    assert values["autoDiscovery"]["clusterName"] == f"dandihub-{plan.stack}"
    assert values["awsRegion"] == config["aws:region"]
    assert values["image"]["tag"].startswith(f"v{config['dandihub:cluster']['kubernetesVersion']}.")
    assert values["rbac"]["serviceAccount"] == {
        "create": True,
        "name": "cluster-autoscaler",
        "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/autoscaler-role"},
    }
    assert values["extraArgs"] == {
        "balance-similar-node-groups": True,
        "skip-nodes-with-local-storage": False,
        "skip-nodes-with-system-pods": False,
        "expander": "least-waste",
        "scale-down-unneeded-time": "10m",
    }
    assert values["nodeSelector"] == {"hub.jupyter.org/node-purpose": "core"}


def asg_tags(plan: Plan) -> dict[str, dict[str, str]]:
    tags: dict[str, dict[str, str]] = {}
    for tag in plan.of_type("aws:autoscaling/tag:Tag"):
        assert tag.inputs["tag"]["propagateAtLaunch"] is False
        tags.setdefault(tag.inputs["autoscalingGroupName"], {})[tag.inputs["tag"]["key"]] = tag.inputs["tag"]["value"]
    return tags


def test_asg_tags_describe_each_group_exactly_as_it_launches(plan: Plan) -> None:
    """Derived from the node group's recorded labels and taints, not from the same helper."""
    tags = asg_tags(plan)
    effects = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
    for group in plan.of_type("eks:index:ManagedNodeGroup"):
        # Core groups too: a hub pending on its volume's zone makes the autoscaler scale that zone's group.
        inputs = group.inputs
        expected = {f"{TAG}/enabled": "true", f"{TAG}/dandihub-{plan.stack}": "owned"}
        expected |= {f"{TAG}/node-template/label/{k}": v for k, v in inputs["labels"].items()}
        expected |= {
            f"{TAG}/node-template/taint/{t['key']}": f"{t['value']}:{effects[t['effect']]}"
            for t in inputs.get("taints", [])
        }
        if "k8s.amazonaws.com/accelerator" in inputs["labels"]:
            expected[f"{TAG}/node-template/resources/nvidia.com/gpu"] = "1"
        assert tags[fake_asg_name(group.name)] == expected


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_autoscaler_runs_after_the_nodes_exist(stack: str, request: pytest.FixtureRequest) -> None:
    plan: Plan = request.getfixturevalue(stack)
    release = plan.one("kubernetes:helm.sh/v3:Release", "autoscaler-release")
    component = plan.by_urn(release.parent)
    assert {g.urn for g in plan.of_type("eks:index:ManagedNodeGroup")} <= set(component.dependencies)
