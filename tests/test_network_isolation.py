"""User servers reach DNS, the hub, the proxy and the public internet, and nothing private: computed from the
NetworkPolicies the real chart renders from the values the release sends, which the cluster enforces.
No pod in the hub's namespace is looser than the namespace's Pod Security level."""

from __future__ import annotations

import copy
import ipaddress

import pytest

from offline.engine import Plan
from tests.charts import of_kind, pod_specs, render
from tests.conftest import plan_with
from tests.netpol import Destination, egress_allowed
from tests.pod_security import baseline_violations, runs_as_root

USER_SERVER = {"component": "singleuser-server", "app": "jupyterhub", "release": "jupyterhub"}
KUBE_SYSTEM = {"kubernetes.io/metadata.name": "kube-system"}


def hub_manifests(plan: Plan) -> list[dict]:
    return render(plan.one("kubernetes:helm.sh/v3:Release", "hub-release"))


def vpc_address(plan: Plan, index: int) -> str:
    """An address inside the stack's VPC (nodes, pods, mount targets and the VPC resolver all live there)."""
    cidr = plan.one("aws:ec2/vpc:Vpc").inputs["cidrBlock"]
    return str(ipaddress.ip_network(cidr)[index])


def destinations(plan: Plan) -> dict[str, tuple[Destination, bool]]:
    """What a user server might try to reach, and whether it should be allowed."""
    return {
        "the hub's API": (Destination(vpc_address(plan, 300), 8081, pod_labels={**USER_SERVER, "component": "hub"},
                                      namespace="dandihub"), True),
        "the proxy": (Destination(vpc_address(plan, 301), 8000, pod_labels={**USER_SERVER, "component": "proxy"},
                                  namespace="dandihub"), True),
        "CoreDNS (UDP)": (Destination(vpc_address(plan, 302), 53, "UDP", {"k8s-app": "kube-dns"}, "kube-system",
                                      KUBE_SYSTEM), True),
        "the VPC resolver": (Destination(vpc_address(plan, 2), 53, "UDP"), True),
        "a public HTTPS site": (Destination("151.101.0.223", 443), True),
        # S3 in us-east-2 (ip-ranges.json, S3 us-east-2 52.219.80.0/20): the gateway endpoint changes the
        # route, not the address, so the policy must allow it as public.
        "the DANDI archive on S3": (Destination("52.219.88.10", 443), True),
        "a public git server over ssh": (Destination("140.82.112.3", 22), True),
        # The EKS Pod Identity agent on the server's own node (hostNetwork, link-local 169.254.170.23:80, the
        # EKS user guide's pod-id-agent-setup): where the scratch bucket's credentials come from.
        "the Pod Identity agent": (Destination("169.254.170.23", 80), True),
        "another user's server": (Destination(vpc_address(plan, 303), 8888, pod_labels=USER_SERVER,
                                              namespace="dandihub"), False),
        "a node's kubelet": (Destination(vpc_address(plan, 304), 10250), False),
        "an EFS mount target (NFS)": (Destination(vpc_address(plan, 305), 2049), False),
        "the Kubernetes API (private endpoint)": (Destination(vpc_address(plan, 306), 443), False),
        "the instance metadata service": (Destination("169.254.169.254", 80), False),
        "another private network": (Destination("192.168.1.10", 5432), False),
    }  # fmt: skip


def test_user_servers_reach_dns_hub_proxy_and_internet_and_nothing_private(plan: Plan) -> None:
    policies = of_kind(hub_manifests(plan), "NetworkPolicy")
    assert {p["metadata"]["name"] for p in policies} >= {"hub", "proxy", "singleuser"}
    outcome = {
        what: egress_allowed(policies, "dandihub", USER_SERVER, to) for what, (to, _) in destinations(plan).items()
    }
    assert outcome == {what: allowed for what, (_, allowed) in destinations(plan).items()}


def test_the_egress_check_has_teeth(staging: Plan) -> None:
    """Without the metadata exception, or with private ranges opened, the check sees the leak."""
    policies = of_kind(hub_manifests(staging), "NetworkPolicy")
    (singleuser,) = [p for p in policies if p["metadata"]["name"] == "singleuser"]
    leaky = copy.deepcopy(singleuser)
    for rule in leaky["spec"]["egress"]:
        for peer in rule.get("to", []):
            if "ipBlock" in peer:
                peer["ipBlock"].pop("except", None)
    metadata, _ = destinations(staging)["the instance metadata service"]
    other_user, _ = destinations(staging)["another user's server"]
    assert not egress_allowed([singleuser], "dandihub", USER_SERVER, metadata)
    assert egress_allowed([leaky], "dandihub", USER_SERVER, metadata)
    assert egress_allowed([leaky], "dandihub", USER_SERVER, other_user)
    assert egress_allowed([], "dandihub", USER_SERVER, other_user), "no policy: everything is open"


def test_policies_are_enforced_and_the_privileged_iptables_block_is_gone(plan: Plan) -> None:
    assert plan.one("eks:index:Cluster").inputs["vpcCniOptions"]["enableNetworkPolicy"] is True
    singleuser = plan.one("kubernetes:helm.sh/v3:Release", "hub-release").inputs["values"]["singleuser"]
    assert singleuser["cloudMetadata"] == {"blockWithIptables": False}
    assert singleuser["networkPolicy"]["egressAllowRules"] == {"dnsPortsCloudMetadataServer": False}


@pytest.mark.parametrize(("privileged", "level"), [(False, "baseline"), (True, "privileged")])
def test_the_namespace_enforces_the_strictest_level_its_pods_pass(privileged: bool, level: str) -> None:
    plan = plan_with("staging", set_={"hub.privilegedUserPods": privileged})
    namespace = plan.one("kubernetes:core/v1:Namespace", "storage-namespace").inputs["metadata"]
    assert namespace["name"] == "dandihub"
    assert namespace["labels"] == {"pod-security.kubernetes.io/enforce": level}


def test_every_chart_pod_passes_baseline_and_restricted_would_refuse_the_volume_fixer(plan: Plan) -> None:
    specs = pod_specs(hub_manifests(plan))
    specs |= {f"DaemonSet/{r.name}": r.inputs["spec"]["template"]["spec"]
              for r in plan.of_type("kubernetes:apps/v1:DaemonSet")}  # fmt: skip
    assert {"Deployment/hub", "Deployment/proxy", "Deployment/user-scheduler", "StatefulSet/user-placeholder",
            "DaemonSet/hub-image-puller-gpu"} <= set(specs)  # fmt: skip
    assert {name: baseline_violations(spec) for name, spec in specs.items() if baseline_violations(spec)} == {}
    user_pod_extras = plan.one("kubernetes:helm.sh/v3:Release", "hub-release").inputs["values"]["singleuser"]
    assert runs_as_root({"initContainers": user_pod_extras["initContainers"]}) == ["nfs-fixer"]


def test_the_baseline_check_has_teeth() -> None:
    privileged = {"containers": [{"name": "notebook", "securityContext": {"privileged": True}}]}
    iptables = {"initContainers": [{"name": "block", "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}],
                "containers": [{"name": "notebook"}]}  # fmt: skip
    host = {"hostNetwork": True, "volumes": [{"name": "root", "hostPath": {"path": "/"}}], "containers": []}
    assert baseline_violations(privileged) == ["notebook: privileged"]
    assert baseline_violations(iptables) == ["block: adds capabilities ['NET_ADMIN']"]
    assert baseline_violations(host) == ["hostNetwork: true", "hostPath volume root"]
