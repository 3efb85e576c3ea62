"""Prometheus's alerts, run by Debian's real `promtool` on the rules the prometheus chart renders: every rule
fires on synthetic series that should fire it and stays silent on series that should not (and a rule that
always or never fires fails its cases), the rendered rules and server config pass `promtool check`, and
Alertmanager's rendered config passes `amtool check-config` and publishes only to the alerts topic, under
an identity that may do nothing else. And the banner operators set for an incident, on a real hub's page."""

from __future__ import annotations

import html
import json
import math
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from components.alert_rules import (
    ALERTS,
    PROFILE_METRIC_LABEL,
    modelled_cold_seconds,
    pending_too_short,
    runbook_anchor,
)
from components.monitoring import AlertRouting, prometheus_values
from offline.engine import Plan, run_stack
from stackconfig.monitoring import RulesConfig
from stackconfig.profiles import PROFILE_LABEL
from tests.charts import of_kind, pod_specs, render
from tests.conftest import ROOT, changed_config, plan_with
from tests.hub_chain import load_hub_config
from tests.real_hub import running_hub
from tests.scheduling import landing_groups, node_groups

# Staging (whose images have sizes, so every profile has a modelled cold start and a slow-start rule) with
# a banner.
ROUTING = AlertRouting("arn:aws:sns:us-east-2:123456789012:t", "us-east-2", "staging", {"base": 200.0})
BANNER = "Maintenance tonight 20:00-22:00 UTC: <b>save your work</b> & log out"


def tool(name: str, package: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is missing: apt-get install {package} (.ci/run does)"
    return found


@pytest.fixture(scope="module")
def bannered() -> Plan:
    return plan_with("staging", set_={"hub.banner": BANNER})


def rendered(plan: Plan) -> dict[str, str]:
    """The files of the server's and Alertmanager's ConfigMaps, as the chart renders them."""
    manifests = render(plan.one("kubernetes:helm.sh/v3:Release", "monitoring-prometheus"))
    (server,) = of_kind(manifests, "ConfigMap", "prometheus-server")
    (alertmanager,) = of_kind(manifests, "ConfigMap", "prometheus-alertmanager")
    return {**server["data"], "alertmanager.yml": alertmanager["data"]["alertmanager.yml"]}


def rules_of(files: dict[str, str]) -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(files["alerting_rules.yml"])["groups"] for r in g["rules"]]


# Synthetic series and what each rule must do with them ------------------------------------------------------


def series(name: str, values: str, **labels: str) -> dict[str, str]:
    inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def cases(plan: Plan) -> list[dict[str, Any]]:
    """Per rule, one case where it must fire (with the labels and summary a person reads) and one where it
    must stay silent; each is (alert, input series, evaluation minute, expected alerts)."""
    r, ns = plan.config.monitoring.prometheus.rules, plan.config.hub.namespace
    cold = modelled_cold_seconds(plan.config)
    p, b, n = r.pending_minutes, r.pull_backoff_minutes, r.node_not_ready_minutes
    k, w = r.start_min_samples, r.start_window_hours
    failures = "jupyterhub_server_spawn_duration_seconds_count"
    slow_minutes = math.ceil(cold["base"] / 60) + 1

    def starts(profile: str, seconds: int, count: int, first: int = 0) -> list[dict[str, str]]:
        made = []
        for i in range(first, first + count):
            pod = {"namespace": ns, "pod": f"jupyter-user{i}", "uid": f"uid-{i}"}
            made += [
                series("kube_pod_created", "1000x30", **pod),
                series("kube_pod_status_ready_time", f"{1000 + seconds}x30", **pod),
                series("kube_pod_labels", "1x30", **pod, label_component="singleuser-server",
                       **{PROFILE_METRIC_LABEL: profile}),
            ]  # fmt: skip
        return made

    return [
        ("ServerSpawnFailures", "fires",
         [series(failures, f"0x30 {r.spawn_failures_per_hour + 1}x30", status="failure")], 60,
         [({}, f"more than {r.spawn_failures_per_hour} servers failed to start in the last hour")]),
        ("ServerSpawnFailures", "silent",
         [series(failures, f"0x30 {r.spawn_failures_per_hour}x30", status="failure"),
          series(failures, "0+5x60", status="success")], 60, []),
        ("PodPendingTooLong", "fires",
         [series("kube_pod_status_phase", f"1x{p + 5}", namespace=ns, pod="jupyter-ada", phase="Pending")], p + 2,
         [({"namespace": ns, "pod": "jupyter-ada"},
           f"pod {ns}/jupyter-ada has been Pending for over {p} minutes")]),
        ("PodPendingTooLong", "silent",
         [series("kube_pod_status_phase", f"1x{p - 2} 0x10", namespace=ns, pod="jupyter-ada", phase="Pending"),
          series("kube_pod_status_phase", f"0x{p - 2} 1x10", namespace=ns, pod="jupyter-ada", phase="Running")],
         p + 2, []),
        ("ImagePullBackOff", "fires",
         # The reason flips between the two as the kubelet backs off; the alert holds through it.
         [series("kube_pod_container_status_waiting_reason", "1x2 stale", namespace=ns, pod="jupyter-ada",
                 container="notebook", reason="ErrImagePull"),
          series("kube_pod_container_status_waiting_reason", f"_x2 1x{b + 5}", namespace=ns, pod="jupyter-ada",
                 container="notebook", reason="ImagePullBackOff"),
          series("kube_pod_init_container_status_waiting_reason", f"1x{b + 5}", namespace=ns, pod="jupyter-bob",
                 container="home-init", reason="ErrImagePull")], b + 2,
         [({"namespace": ns, "pod": "jupyter-ada", "container": "notebook"},
           f"container notebook of {ns}/jupyter-ada cannot pull its image (for {b} minutes)"),
          ({"namespace": ns, "pod": "jupyter-bob", "container": "home-init"},
           f"container home-init of {ns}/jupyter-bob cannot pull its image (for {b} minutes)")]),
        ("ImagePullBackOff", "silent",
         [series("kube_pod_container_status_waiting_reason", f"1x{b - 2} stale", namespace=ns, pod="jupyter-ada",
                 container="notebook", reason="ImagePullBackOff"),
          series("kube_pod_container_status_waiting_reason", f"1x{b + 5}", namespace=ns, pod="jupyter-bob",
                 container="notebook", reason="ContainerCreating")], b + 2, []),
        ("SlowServerStarts", "fires",
         [*starts("base", slow_minutes * 60, k), *starts("tiny", 20, k, first=k)], 20,
         [({"profile": "base", "modelled_cold_seconds": f"{cold['base']:.0f}"},
           f"profile base: 9 in 10 servers started within {slow_minutes}m 0s over the last {w} hours; the "
           f"plan's cold start is {cold['base']:.0f} s")]),
        ("SlowServerStarts", "silent",
         # Base starts within its cold time; GPU starts are slow but too few to judge.
         [*starts("base", math.floor(cold["base"]) - 30, k), *starts("gpu", 3600, k - 1, first=k)], 20, []),
        ("HubRestarted", "fires",
         [series("kube_pod_container_status_restarts_total", "0x10 1x10", namespace=ns, pod="hub-7d9f",
                 container="hub")], 15,
         [({"namespace": ns, "pod": "hub-7d9f", "container": "hub"},
           "the hub's container restarted in the last 15 minutes")]),
        ("HubRestarted", "silent",
         # The proxy restarting is not the hub; a hub restart 20 minutes ago is over.
         [series("kube_pod_container_status_restarts_total", "0x10 1x20", namespace=ns, pod="proxy-5c4",
                 container="chp"),
          series("kube_pod_container_status_restarts_total", "0x5 1x25", namespace=ns, pod="hub-7d9f",
                 container="hub")], 25, []),
        ("NodeNotReady", "fires",
         [series("kube_node_status_condition", f"1x{n + 5}", node="ip-10-0-1-5", condition="Ready", status="false"),
          series("kube_node_status_condition", f"0x{n + 5}", node="ip-10-0-1-5", condition="Ready", status="true")],
         n + 2, [({"node": "ip-10-0-1-5"}, f"node ip-10-0-1-5 has been NotReady for {n} minutes")]),
        ("NodeNotReady", "silent",
         # A node that joins (NotReady for a minute or two), and one under disk pressure but Ready.
         [series("kube_node_status_condition", f"1x{n - 2} 0x10", node="ip-10-0-1-5", condition="Ready",
                 status="false"),
          series("kube_node_status_condition", f"0x{n - 2} 1x10", node="ip-10-0-1-5", condition="Ready",
                 status="true"),
          series("kube_node_status_condition", f"1x{n + 5}", node="ip-10-0-2-7", condition="DiskPressure",
                 status="true")], n + 2, []),
    ]  # fmt: skip


def promtool_tests(plan: Plan, files: dict[str, str], folder: Path, only: str | None = None) -> Path:
    """The cases (of one alert, if `only`) as a `promtool test rules` file, the expected annotations taken from
    the rendered rule except the summary, which the case spells out."""
    stack = plan.stack
    by_name = {}
    for rule in rules_of(files):
        by_name.setdefault(rule["alert"], rule)
    groups = []
    for alert, kind, input_series, minute, expected in cases(plan):
        if only not in (None, alert):
            continue
        rule = by_name[alert]
        exp_alerts = [
            {
                "exp_labels": {"severity": "warning", "stack": stack, **labels},
                "exp_annotations": {
                    "summary": f"dandihub {stack}: {summary}",
                    "description": rule["annotations"]["description"],
                    "runbook_url": rule["annotations"]["runbook_url"],
                },
            }
            for labels, summary in expected
        ]
        groups.append(
            {
                "name": f"{alert} {kind}",
                "interval": "1m",
                "input_series": input_series,
                "alert_rule_test": [{"eval_time": f"{minute}m", "alertname": alert, "exp_alerts": exp_alerts}],
            }
        )
    for name in ("alerting_rules.yml", "recording_rules.yml"):
        (folder / name).write_text(files[name])
    tests = folder / "tests.yml"
    tests.write_text(
        yaml.safe_dump({"rule_files": ["recording_rules.yml", "alerting_rules.yml"], "tests": groups}, sort_keys=False)
    )
    return tests


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """promtool's report, its two streams in the order it wrote them (a test's failure goes to stderr)."""
    return subprocess.run(
        [tool("promtool", "prometheus"), *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_every_rule_fires_when_it_should_and_stays_silent_when_it_should_not(bannered: Plan, tmp_path: Path) -> None:
    files = rendered(bannered)
    assert {r["alert"] for r in rules_of(files)} == set(ALERTS)
    covered = {(alert, kind) for alert, kind, *_ in cases(bannered)}
    assert covered == {(a, k) for a in ALERTS for k in ("fires", "silent")}
    done = promtool("test", "rules", promtool_tests(bannered, files, tmp_path))
    assert done.returncode == 0, done.stdout


def test_a_rule_that_always_or_never_fires_fails_its_cases(bannered: Plan, tmp_path: Path) -> None:
    """The cases have teeth: each rule replaced by one that always fires, or never does, fails them (one
    promtool run over every broken copy; it reports each file)."""
    files = rendered(bannered)
    broken = {}
    for alert in ALERTS:
        for label, expr in (("always", "vector(1)"), ("never", "vector(0) > 1")):
            rules = yaml.safe_load(files["alerting_rules.yml"])
            for group in rules["groups"]:
                for rule in group["rules"]:
                    if rule["alert"] == alert:
                        rule["expr"] = expr
            folder = tmp_path / f"{alert}-{label}"
            folder.mkdir()
            tests = promtool_tests(bannered, {**files, "alerting_rules.yml": yaml.safe_dump(rules)}, folder, alert)
            broken[str(tests)] = f"{alert} as {expr!r}"
    done = promtool("test", "rules", *broken)
    reports = {part.split()[0]: "FAILED" in part for part in done.stdout.split("Unit Testing:")[1:]}
    assert set(reports) == set(broken), done.stdout
    assert [broken[f] for f, failed in reports.items() if not failed] == [], "these passed their cases"


def test_slow_starts_compare_each_profile_with_the_plans_cold_time(bannered: Plan, staging: Plan) -> None:
    """One rule per profile with a modelled cold start, holding the model's number; none without one."""
    cold = modelled_cold_seconds(bannered.config)
    assert set(cold) == {p.slug for p in bannered.config.hub.profiles}
    slow = [r for r in rules_of(rendered(bannered)) if r["alert"] == "SlowServerStarts"]
    assert {r["labels"]["profile"]: r["labels"]["modelled_cold_seconds"] for r in slow} == {
        slug: f"{seconds:.0f}" for slug, seconds in cold.items()
    }
    for rule in slow:
        assert f"> {rule['labels']['modelled_cold_seconds']} and" in rule["expr"]
    # Without image sizes the model says unknown, and no rule pretends to know.
    hub = staging.config.hub
    unsized = staging.config.model_copy(
        update={"hub": hub.model_copy(
            update={"images": {k: i.model_copy(update={"size_gb": None}) for k, i in hub.images.items()}})}
    )  # fmt: skip
    assert modelled_cold_seconds(unsized) == {}
    routing = AlertRouting("arn:aws:sns:us-east-2:123456789012:t", "us-east-2", "staging", {})
    rules = prometheus_values(staging.config.monitoring, hub, routing)["serverFiles"]["alerting_rules.yml"]
    assert "SlowServerStarts" not in {r["alert"] for g in rules["groups"] for r in g["rules"]}


def test_a_pending_alert_shorter_than_a_cold_start_is_warned_about(plan: Plan) -> None:
    """Each stack's Pending alert waits longer than its slowest modelled cold start (no warning in the plan);
    one that would fire on every cold start of a profile is named."""
    cold = modelled_cold_seconds(plan.config)
    assert cold and not pending_too_short(plan.config.monitoring.prometheus.rules, cold)
    assert not [w for w in plan.warnings if "pendingMinutes" in w]
    if plan.stack != "staging":
        return
    # A 15 GB GPU image pulled layer after layer takes longer than a 5-minute Pending alert waits.
    slow = changed_config("staging", set_={"nodeGroups.gpu.imagePull": "sequential",
                                           "monitoring.prometheus.rules": {"pendingMinutes": 5}})  # fmt: skip
    slow["dandihub:hub"]["images"]["gpu"]["sizeGb"] = 15
    warned = [w for w in run_stack("staging", config=slow).warnings if "pendingMinutes" in w]
    assert len(warned) == 1 and "5 minutes is shorter than profile gpu's modelled cold start" in warned[0]


def test_kube_state_metrics_keeps_the_profile_label_the_rules_join_on(plan: Plan) -> None:
    """Each user pod carries its profile's slug (tests/test_real_chain.py builds them with KubeSpawner);
    kube-state-metrics must keep that label, which it names `label_<key with _>`."""
    (ksm,) = of_kind(render(plan.one("kubernetes:helm.sh/v3:Release", "monitoring-prometheus")), "Deployment",
                     "prometheus-kube-state-metrics")  # fmt: skip
    (allow,) = [
        a
        for a in ksm["spec"]["template"]["spec"]["containers"][0]["args"]
        if a.startswith("--metric-labels-allowlist=")
    ]
    assert PROFILE_LABEL in allow.split("pods=[", 1)[1].split("]", 1)[0].split(",")
    assert PROFILE_METRIC_LABEL == "label_dandiarchive_org_profile"


def test_every_alert_links_to_a_runbook_heading_that_exists(plan: Plan) -> None:
    runbook = (ROOT / "docs" / "operations.md").read_text()
    headings = {runbook_anchor(line.lstrip("#")) for line in runbook.splitlines() if line.startswith("#")}
    base = plan.config.monitoring.prometheus.rules.runbook_url
    for rule in rules_of(rendered(plan)):
        url = rule["annotations"]["runbook_url"]
        assert url.startswith(base + "#") and url.split("#", 1)[1] in headings, url
        assert rule["annotations"]["summary"].startswith(f"dandihub {plan.stack}: ")


# The service discovery roles of Prometheus's Kubernetes discovery (prometheus/prometheus
# discovery/kubernetes/kubernetes.go, v2.42 to v3): checked by name, since Debian's build has no such discovery.
KUBERNETES_ROLES = {"endpoints", "endpointslice", "service", "pod", "node", "ingress"}


def test_the_rendered_rules_and_server_config_pass_promtool_check(plan: Plan, tmp_path: Path) -> None:
    """Debian's promtool is built without Kubernetes discovery: those blocks become static targets and the
    files the pod mounts become local files; the rest is checked as Prometheus would load it."""
    files = rendered(plan)
    config = yaml.safe_load(files["prometheus.yml"])

    def local(node: Any) -> None:
        if isinstance(node, dict):
            discoveries = node.pop("kubernetes_sd_configs", None)
            if discoveries is not None:
                assert {d["role"] for d in discoveries} <= KUBERNETES_ROLES, discoveries
                node["static_configs"] = [{"targets": ["discovered.invalid:9090"]}]
            for key, value in node.items():
                if key.endswith("_file") and isinstance(value, str):
                    node[key] = str(tmp_path / "mounted")
                else:
                    local(value)
        elif isinstance(node, list):
            for item in node:
                local(item)

    local(config)
    (tmp_path / "mounted").write_text("x")
    config["rule_files"] = [str(tmp_path / Path(f).name) for f in config["rule_files"]]
    for name in map(lambda f: Path(f).name, config["rule_files"]):
        (tmp_path / name).write_text(files[name])
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    checked = promtool("check", "config", tmp_path / "prometheus.yml")
    assert checked.returncode == 0, checked.stdout
    rules = promtool("check", "rules", tmp_path / "alerting_rules.yml", tmp_path / "recording_rules.yml")
    assert rules.returncode == 0, rules.stdout
    assert config["alerting"]["alertmanagers"], "Prometheus sends to the chart's Alertmanager"


# Alertmanager -----------------------------------------------------------------------------------------------


def test_alertmanager_config_passes_amtool_and_sends_one_message_per_alert_to_the_topic(
    plan: Plan, tmp_path: Path
) -> None:
    files = rendered(plan)
    (tmp_path / "alertmanager.yml").write_text(files["alertmanager.yml"])
    checked = subprocess.run(
        [tool("amtool", "prometheus-alertmanager"), "check-config", str(tmp_path / "alertmanager.yml")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = yaml.safe_load(files["alertmanager.yml"])
    route = config["route"]
    assert route["group_by"] == ["alertname"] and route["group_interval"] == "10m"
    assert route["repeat_interval"] == f"{plan.config.monitoring.prometheus.rules.repeat_hours}h"
    (receiver,) = config["receivers"]
    (sns,) = receiver["sns_configs"]
    assert receiver["name"] == route["receiver"]
    assert sns["topic_arn"] == plan.outputs["alertsTopicArn"]
    assert sns["sigv4"] == {"region": plan.config.region}, "no keys: the pod's IRSA role"
    assert sns["send_resolved"] is True


def test_alertmanager_may_only_publish_to_the_alerts_topic_under_its_own_account(plan: Plan) -> None:
    policy = plan.one("aws:iam/policy:Policy", "monitoring-alertmanager-publish")
    assert json.loads(policy.inputs["policy"])["Statement"] == [
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": plan.outputs["alertsTopicArn"]}
    ]
    role = plan.one("aws:iam/role:Role", "monitoring-alertmanager-role")
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    subjects = [v for k, v in statement["Condition"]["StringEquals"].items() if k.endswith(":sub")]
    assert subjects == ["system:serviceaccount:monitoring:prometheus-alertmanager"]
    (attached,) = [a for a in plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                   if a.name == "monitoring-alertmanager-publish"]  # fmt: skip
    assert attached.inputs["policyArn"].endswith(":policy/monitoring-alertmanager-publish")
    manifests = render(plan.one("kubernetes:helm.sh/v3:Release", "monitoring-prometheus"))
    (account,) = of_kind(manifests, "ServiceAccount", "prometheus-alertmanager")
    role_arn = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert role_arn.endswith(":role/monitoring-alertmanager-role")
    spec = pod_specs(manifests)["StatefulSet/prometheus-alertmanager"]
    assert spec["serviceAccountName"] == "prometheus-alertmanager"
    core = {name for name, group in node_groups(plan).items() if group.role == "core"}
    assert landing_groups(spec, node_groups(plan)) == core


def test_prometheus_finds_the_alertmanager_pod_the_chart_renders(plan: Plan) -> None:
    """The server's discovery keeps pods by namespace, two labels and port 9093 (the chart's cm.yaml): the
    rendered StatefulSet's pod must match every one of them."""
    manifests = render(plan.one("kubernetes:helm.sh/v3:Release", "monitoring-prometheus"))
    (statefulset,) = of_kind(manifests, "StatefulSet", "prometheus-alertmanager")
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    ports = [p["containerPort"] for c in statefulset["spec"]["template"]["spec"]["containers"] for p in c["ports"]]
    meta = {"__meta_kubernetes_namespace": "monitoring"}
    meta |= {"__meta_kubernetes_pod_label_" + k.replace(".", "_").replace("/", "_").replace("-", "_"): v
             for k, v in labels.items()}  # fmt: skip
    (alertmanagers,) = yaml.safe_load(rendered(plan)["prometheus.yml"])["alerting"]["alertmanagers"]
    for port in ports:
        found = {**meta, "__meta_kubernetes_pod_container_port_number": str(port)}
        kept = all(
            re.fullmatch(rule["regex"], ";".join(found.get(s, "") for s in rule["source_labels"]))
            for rule in alertmanagers["relabel_configs"]
            if rule["action"] == "keep"
        )
        assert kept == (port == 9093), port


def test_rules_need_the_alerts_topic(staging: Plan) -> None:
    from offline.engine import ProgramError

    with pytest.raises(ProgramError, match=r"monitoring.prometheus.rules.enabled.*enable alerts"):
        plan_with("staging", set_={"monitoring.alerts.enabled": False})
    # With the rules off (or no topic), the chart's values stay as they were: no Alertmanager, no rules.
    config = staging.config.monitoring.model_copy(
        update={"prometheus": staging.config.monitoring.prometheus.model_copy(
            update={"rules": RulesConfig(enabled=False)})}
    )  # fmt: skip
    for values in (
        prometheus_values(config, staging.config.hub, ROUTING),
        prometheus_values(staging.config.monitoring, staging.config.hub),
    ):
        assert values["alertmanager"]["enabled"] is False and "alerting_rules.yml" not in values.get("serverFiles", {})


# Telling users: the banner ---------------------------------------------------------------------------------


def test_the_banner_shows_as_plain_text_on_the_real_hubs_pages(bannered: Plan, staging: Plan, tmp_path: Path) -> None:
    """The chart's own config loader turns the release's values into the hub's template variables (the
    home-usage notice's extraConfig adds to them, not replacing them); JupyterHub's page template shows
    `announcement` on every page."""
    hub = bannered.one("kubernetes:helm.sh/v3:Release", "hub-release")
    config = load_hub_config(render(hub), tmp_path / "chart", "dandihub")
    assert set(config.JupyterHub.template_vars) == {"announcement", "home_limit", "server_max_age"}
    with running_hub(config, tmp_path / "hub") as running:
        page = requests.get(f"{running.url}/hub/login", timeout=30).text
    shown = re.search(r'<div class="[^"]*\bannouncement\b[^"]*">(.*?)</div>', page, re.S)
    assert shown and shown.group(1).strip() == html.escape(BANNER), "escaped: the config is text, not HTML"
    assert "<b>" not in shown.group(1)
    # No banner in the stack file: no announcement.
    plain = staging.one("kubernetes:helm.sh/v3:Release", "hub-release").inputs["values"]["hub"]["config"]
    assert "announcement" not in plain["JupyterHub"]["template_vars"]


def test_the_plan_lists_each_stacks_rules(bannered: Plan) -> None:
    import plan as plan_command

    listed = plan_command.render(bannered).split("Prometheus alerts (", 1)[1].splitlines()[1:]
    names = [line.split()[0] for line in listed]
    assert sorted(set(names)) == sorted(ALERTS)
    cold = modelled_cold_seconds(bannered.config)
    assert [line for line in listed if "SlowServerStarts" in line] == [
        f"  {'SlowServerStarts':<20} profile {slug}: 9 in 10 servers started within <measured> over the last "
        f"6 hours; the plan's cold start is {seconds:.0f} s"
        for slug, seconds in sorted(cold.items())
    ]


def test_the_runbooks_port_forward_reaches_alertmanager(staging: Plan) -> None:
    """docs/operations.md: `kubectl -n monitoring port-forward svc/prometheus-alertmanager 9093`."""
    command = "kubectl -n monitoring port-forward svc/prometheus-alertmanager 9093"
    assert command in (ROOT / "docs" / "operations.md").read_text()
    release = staging.one("kubernetes:helm.sh/v3:Release", "monitoring-prometheus")
    (service,) = of_kind(render(release), "Service", "prometheus-alertmanager")
    assert release.inputs["namespace"] == "monitoring"
    assert 9093 in [p["port"] for p in service["spec"]["ports"]]
