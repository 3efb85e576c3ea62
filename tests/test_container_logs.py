"""Container logs reach CloudWatch: the amazon-cloudwatch-observability chart (the add-on's version, 6.4.0)
rendered with the exact configurationValues the program sends puts every pod that writes to CloudWatch under
a service account whose IRSA role trusts it and may write exactly the three log groups.
Upstream: aws-observability/helm-charts@93a934e8ccfa228fda6a5f653c3da59c5546afcf:
charts/amazon-cloudwatch-observability/templates/_helpers.tpl (cloudwatch-agent.serviceAccountName) and
templates/linux/fluent-bit-daemonset.yaml."""

from __future__ import annotations

import copy
import json
from typing import Any

import botocore.session
import pytest

from components.container_logs import LOG_ACTIONS
from offline.engine import Plan, RecordedResource
from tests.charts import Manifest, addon_manifests, pod_specs

# Images whose processes call CloudWatch: Fluent Bit (logs) and the CloudWatch agent (metrics, logs).
WRITER_IMAGES = ("aws-for-fluent-bit", "cloudwatch-agent:")


def cloudwatch_addon(plan: Plan) -> RecordedResource:
    (addon,) = [
        a for a in plan.of_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "amazon-cloudwatch-observability"
    ]
    return addon


def rendered(plan: Plan, addon: RecordedResource | None = None) -> list[Manifest]:
    return addon_manifests(addon or cloudwatch_addon(plan), plan.config.cluster.name, plan.config.region)


def trusted_accounts(plan: Plan) -> dict[str, str]:
    """IRSA subject (system:serviceaccount:ns:name) -> the ARN of the role that trusts it."""
    trusted = {}
    for role in plan.of_type("aws:iam/role:Role"):
        for statement in json.loads(role.inputs["assumeRolePolicy"])["Statement"]:
            condition = statement.get("Condition", {}).get("StringEquals", {})
            for key, subjects in condition.items():
                if key.endswith(":sub"):
                    for subject in [subjects] if isinstance(subjects, str) else subjects:
                        trusted[subject] = f"arn:aws:iam::123456789012:role/{role.name}"
    return trusted


def account_annotations(plan: Plan, manifests: list[Manifest]) -> dict[tuple[str, str], dict[str, str]]:
    """Every service account that will exist, the program's and the chart's: (namespace, name) -> annotations."""
    accounts = {
        (r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r.inputs["metadata"].get("annotations", {})
        for r in plan.of_type("kubernetes:core/v1:ServiceAccount")
    }
    for m in manifests:
        if m["kind"] == "ServiceAccount":
            accounts[(m["metadata"]["namespace"], m["metadata"]["name"])] = m["metadata"].get("annotations") or {}
    return accounts


def untrusted_writers(plan: Plan, manifests: list[Manifest], namespace: str) -> list[str]:
    """Each CloudWatch-writing workload whose account is missing, or not annotated with a role that trusts it."""
    trusted, accounts, problems = trusted_accounts(plan), account_annotations(plan, manifests), []
    for workload, spec in pod_specs(manifests).items():
        if not any(i in c["image"] for c in spec["containers"] for i in WRITER_IMAGES):
            continue
        account = spec.get("serviceAccountName", "default")
        subject = f"system:serviceaccount:{namespace}:{account}"
        annotation = accounts.get((namespace, account), {}).get("eks.amazonaws.com/role-arn")
        if (namespace, account) not in accounts and account != "default":
            problems.append(f"{workload}: service account {account} does not exist")
        elif subject not in trusted or annotation != trusted[subject]:
            problems.append(f"{workload}: runs as {account}, which no IRSA role trusts and annotates")
    return problems


def test_every_log_writer_runs_under_an_account_its_role_trusts(plan: Plan) -> None:
    manifests = rendered(plan)
    writers = [
        w for w, s in pod_specs(manifests).items() if any("aws-for-fluent-bit" in c["image"] for c in s["containers"])
    ]
    assert writers == ["DaemonSet/fluent-bit", "DaemonSet/fluent-bit-windows"]
    assert untrusted_writers(plan, manifests, "amazon-cloudwatch") == []
    account = plan.one("kubernetes:core/v1:ServiceAccount", "monitoring-fluent-bit")
    assert account.urn in cloudwatch_addon(plan).dependencies, "the account and its role exist before the pods"


def test_the_check_finds_fluent_bit_under_the_default_account(plan: Plan) -> None:
    """What the program sent before: agent off and no account named, so Fluent Bit ran as `default`."""
    old = copy.deepcopy(cloudwatch_addon(plan))
    old.inputs["configurationValues"] = json.dumps({"containerLogs": {"enabled": True}, "agent": {"enabled": False}})
    assert untrusted_writers(plan, rendered(plan, old), "amazon-cloudwatch") == [
        "DaemonSet/fluent-bit: runs as default, which no IRSA role trusts and annotates",
        "DaemonSet/fluent-bit-windows: runs as default, which no IRSA role trusts and annotates",
    ]


def test_fluent_bits_role_may_write_exactly_the_three_log_groups(plan: Plan) -> None:
    (policy,) = [p for p in plan.of_type("aws:iam/rolePolicy:RolePolicy") if p.name.endswith("-fluent-bit-logs")]
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    groups = sorted(
        g.inputs["name"]
        for g in plan.of_type("aws:cloudwatch/logGroup:LogGroup")
        if "containerinsights" in g.inputs["name"]
    )
    assert len(groups) == 3
    arns = [f"arn:aws:fake:{plan.config.region}:123456789012:monitoring-logs-{g.rsplit('/', 1)[1]}" for g in groups]
    assert sorted(statement["Resource"]) == sorted([*arns, *(f"{a}:log-stream:*" for a in arns)])
    operations = set(botocore.session.get_session().get_service_model("logs").operation_names)
    assert {a.removeprefix("logs:") for a in statement["Action"]} <= operations
    assert statement["Action"] == list(LOG_ACTIONS)
    assert not [
        a
        for a in plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if "CloudWatchAgent" in a.inputs["policyArn"]
    ]


def test_the_log_groups_fluent_bit_writes_are_the_ones_made_with_a_retention(plan: Plan) -> None:
    (config,) = [m for m in rendered(plan) if m["kind"] == "ConfigMap" and m["metadata"]["name"] == "fluent-bit-config"]
    text = "\n".join(config["data"].values())
    written = {line.split()[1].replace("${CLUSTER_NAME}", plan.config.cluster.name) for line in text.splitlines()
               if line.strip().startswith("log_group_name")}  # fmt: skip
    made = {g.inputs["name"] for g in plan.of_type("aws:cloudwatch/logGroup:LogGroup")}
    assert written and written <= made


@pytest.mark.parametrize("kind", ["DcgmExporter", "NeuronMonitor"])
def test_the_gpu_and_neuron_monitors_are_off(kind: str, plan: Plan) -> None:
    """Both only feed the CloudWatch agent, which is off; the chart's defaults would start them."""
    assert not [m for m in rendered(plan) if m["kind"] == kind]
    defaults = copy.deepcopy(cloudwatch_addon(plan))
    configuration: dict[str, Any] = json.loads(defaults.inputs["configurationValues"])
    del configuration["dcgmExporter"], configuration["neuronMonitor"]
    defaults.inputs["configurationValues"] = json.dumps(configuration)
    assert [m for m in rendered(plan, defaults) if m["kind"] == kind]


def test_the_add_on_installs_the_chart_the_tests_render(plan: Plan) -> None:
    assert cloudwatch_addon(plan).inputs["addonVersion"].startswith("v6.4.0-eksbuild.")


def auto_monitor(manifests: list[Manifest]) -> dict[str, Any]:
    """The operator's --auto-monitor-config, as the chart renders it."""
    (operator,) = [m for m in manifests if m["kind"] == "Deployment"]
    (arg,) = [
        a
        for a in operator["spec"]["template"]["spec"]["containers"][0]["args"]
        if a.startswith("--auto-monitor-config=")
    ]
    return dict(json.loads(arg.split("=", 1)[1]))


def test_the_operator_instruments_no_workload(plan: Plan) -> None:
    """No OpenTelemetry injected into the hub or users' servers (Python) for an agent that is not there."""
    assert auto_monitor(rendered(plan))["monitorAllServices"] is False
    old = copy.deepcopy(cloudwatch_addon(plan))
    old.inputs["configurationValues"] = json.dumps({"containerLogs": {"enabled": True}, "agent": {"enabled": False}})
    assert auto_monitor(rendered(plan, old))["monitorAllServices"] is True
    assert "python" in auto_monitor(rendered(plan, old))["languages"]
